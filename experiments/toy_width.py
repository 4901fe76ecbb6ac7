"""Study 1: 2-D toy problems, one hidden layer, widths 2 to 1024, 5 seeds.

    .venv/bin/python experiments/toy_width.py [--quick]

Naive vs weight- vs activation-matched barriers against width on moons and spirals,
and decision regions of two endpoints and of their naive and aligned midpoints.
"""

from common import figure, parse_args, pyplot, registry, sweep_request, write_rows

from lmctui.figures import plot_sweep

from lmctui.service.regions import decision_grid
from lmctui.service.sweeps import run_sweep


def main() -> None:
    args = parse_args(__doc__)
    reg = registry(args.home)
    widths = [2, 8, 32, 128] if args.quick else [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    seeds = 3 if args.quick else 5
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    rows, summaries = [], {}
    for ax, dataset in zip(axes, ("moons", "spirals")):
        request = sweep_request(dataset, 1, "width", widths, seeds, ["naive", "weight", "activation"],
                                {"epochs": 15 if args.quick else 60, "lr": 0.05, "batch_size": 32}, args.device)
        result = run_sweep(reg, request, on_progress=lambda f, m: print(f"  [{f:4.0%}] {dataset} {m}"))
        summaries[dataset] = result
        rows += [{"dataset": dataset, **r} for r in result["summary"]]
        plot_sweep(ax, result["summary"], log_x=True, x_label="hidden units (one layer)")
        ax.set_title(dataset)
    write_rows("study1_toy_width", rows)
    figure("study1_toy_width", fig)
    regions(reg, summaries, widths, plt, args.device)


def regions(reg, summaries, widths, plt, device) -> None:
    """Endpoints and midpoints (naive, weight-matched) at a middle width on each problem."""
    width = widths[len(widths) // 2]
    fig, axes = plt.subplots(2, 4, figsize=(12, 6))
    for row, (dataset, result) in zip(axes, summaries.items()):
        pair = next(r for r in result["rows"] if r["value"] == width)
        a, b = pair["run_a"], pair["run_b"]
        panels = [(f"A ({a})", a, None, 0.0, "naive"), (f"B ({b})", b, None, 0.0, "naive"),
                  ("naive midpoint", a, b, 0.5, "naive"), ("weight-matched midpoint", a, b, 0.5, "weight")]
        for ax, (title, run_a, run_b, alpha, method) in zip(row, panels):
            grid = decision_grid(reg, run_a, run_b, alpha, method, columns=120, rows=120)
            ax.imshow(grid["classes"], cmap="coolwarm", interpolation="nearest")
            ax.set_title(f"{dataset} w{width}: {title}\ntest acc {grid['test_acc']:.3f}", fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
    figure("study1_toy_regions", fig)


if __name__ == "__main__":
    main()
