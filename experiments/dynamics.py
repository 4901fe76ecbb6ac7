"""Study 3: training dynamics. The barrier study swept over optimizer, learning rate,
batch size and training length, on moons and digits.

    .venv/bin/python experiments/dynamics.py [--quick]
"""

from common import figure, parse_args, pyplot, registry, sweep_request, write_rows

from lmctui.figures import plot_sweep

from lmctui.service.sweeps import run_sweep

SETTINGS = {"moons": {"depth": 1, "width": 64}, "digits": {"depth": 2, "width": 64}}
AXES = {"optimizer": ["sgd", "adam"], "lr": [0.01, 0.05, 0.2], "batch_size": [16, 64, 256], "epochs": [2, 10, 40]}


def main() -> None:
    args = parse_args(__doc__)
    reg = registry(args.home)
    seeds = 2 if args.quick else 3
    plt = pyplot()
    fig, axes = plt.subplots(2, len(AXES), figsize=(16, 7))
    rows = []
    for row, (dataset, setting) in zip(axes, SETTINGS.items()):
        for ax, (axis, values) in zip(row, AXES.items()):
            train = {"epochs": 5 if args.quick else 20, "lr": 0.05, "batch_size": 64, "optimizer": "sgd"}
            if axis == "optimizer":
                train.pop("lr")  # each optimizer its default rate
            values = values[:2] if args.quick else values
            request = sweep_request(dataset, setting["depth"], axis, values, seeds, ["naive", "weight"], train,
                                    args.device, width=setting["width"])
            result = run_sweep(reg, request,
                               on_progress=lambda f, m: print(f"  [{f:4.0%}] {dataset} {m}"))
            rows += [{"dataset": dataset, "axis": axis, **r} for r in result["summary"]]
            plot_sweep(ax, result["summary"], log_x=axis in ("lr", "batch_size", "epochs"), x_label=axis)
            ax.set_title(f"{dataset}: {axis}")
    write_rows("study3_dynamics", rows)
    figure("study3_dynamics", fig)


if __name__ == "__main__":
    main()
