"""Study 4: implicit vs explicit alignment on digits (MLP, width 64, depth 2).

    .venv/bin/python experiments/implicit_alignment.py [--quick]

Groups of networks that differ only in data order: independent (own init), sharing an
initialization, and spawned from a common parent's checkpoint at epochs 0, 1 and 5.
For each group: barriers between its members, naive and weight-matched, and the
accuracy of their naive and aligned averages.
"""

import itertools
import statistics

from common import figure, parse_args, pyplot, registry, write_rows

from lmctui.core.data import DataConfig
from lmctui.core.interpolation import InterpolationOptions
from lmctui.core.training import TrainConfig
from lmctui.service.requests import AverageRequest, InterpRequest
from lmctui.service.science import average, interp
from lmctui.service.training import TrainRequest, train_runs


def main() -> None:
    args = parse_args(__doc__)
    reg = registry(args.home)
    epochs = 8 if args.quick else 20
    seeds = (0, 1, 2) if args.quick else (0, 1, 2, 3)
    base = dict(data=DataConfig("digits"), width=64, depth=2, device=args.device)

    def group(**extra):
        request = TrainRequest(**base, train=TrainConfig(epochs=epochs, **extra.pop("train", {})), **extra)
        return [r["id"] for r in train_runs(reg, request)]

    parent = group(seeds=(100,), train={"save_epochs": (0, 1, 5)})[0]
    groups = {
        "independent": group(seeds=seeds),
        "shared init": group(seeds=seeds, init_seed=7),
        **{f"spawned at epoch {k}": group(seeds=seeds, init_seed=100, init_from=f"{parent}@{k}") for k in (0, 1, 5)},
    }
    rows = []
    for name, runs in groups.items():
        for method in ("naive", "weight"):
            barriers = [c["loss_barrier_test"] for a, b in itertools.combinations(runs, 2)
                        for c in interp(reg, InterpRequest(a, b, (method,), InterpolationOptions(points=25), device=args.device))]
            avg = average(reg, AverageRequest(tuple(runs), method, device=args.device), register=False)
            rows.append({"group": name, "method": method, "pairs": len(barriers),
                         "loss_barrier_test_mean": statistics.fmean(barriers),
                         "loss_barrier_test_std": statistics.pstdev(barriers),
                         "average_test_acc": avg["test_acc"],
                         "endpoint_test_acc_mean": statistics.fmean(e["test_acc"] for e in avg["endpoints"])})
            print(rows[-1])
    write_rows("study4_implicit_alignment", rows)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    names = list(groups)
    for offset, (method, color) in enumerate((("naive", "tab:red"), ("weight", "tab:blue"))):
        chosen = [next(r for r in rows if r["group"] == g and r["method"] == method) for g in names]
        xs = [i + offset * 0.38 for i in range(len(names))]
        axes[0].bar(xs, [r["loss_barrier_test_mean"] for r in chosen], 0.38, yerr=[r["loss_barrier_test_std"] for r in chosen],
                    color=color, label=method)
        axes[1].bar(xs, [r["average_test_acc"] for r in chosen], 0.38, color=color, label=f"{method} average")
    for ax, label in zip(axes, ("test loss barrier", "test accuracy of the average")):
        ax.set_xticks([i + 0.19 for i in range(len(names))], names, rotation=20, fontsize=8)
        ax.set_ylabel(label)
        ax.legend()
    figure("study4_implicit_alignment", fig)


if __name__ == "__main__":
    main()
