"""Study 6: one basin or several? The pairwise barrier matrix of 8 networks of one setting,
naive and weight-matched, clustered into basins (average linkage, threshold 0.1), on a toy
set, on digits and on mnist-5k.

    python experiments/basins.py [--quick] [--home DIR]
"""

from __future__ import annotations

import itertools

from common import figure, parse_args, pyplot, registry, write_rows

from lmctui.figures import plot_basins

from lmctui.configs import DataConfig, InterpolationOptions, TrainConfig
from lmctui.service.basins import basins
from lmctui.service.requests import InterpRequest, TrainRequest
from lmctui.service.science import interp
from lmctui.service.training import train_runs

THRESHOLD = 0.1  # test loss barrier below which two networks count as one basin
SETTINGS = {  # data set -> (width, depth, epochs)
    "moons": (16, 2, 30),
    "digits": (32, 2, 20),
    "mnist-5k": (64, 2, 10),
}


def main() -> None:
    args = parse_args(__doc__)
    reg = registry(args.home)
    count = 4 if args.quick else 8
    plt = pyplot()
    fig, axes = plt.subplots(4, len(SETTINGS), figsize=(5 * len(SETTINGS), 12), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 2.5, 1, 2.5]})  # per kind: dendrogram, matrix
    rows = []
    for column, (dataset, (width, depth, epochs)) in enumerate(SETTINGS.items()):
        request = TrainRequest(DataConfig(dataset), "mlp", width, depth, seeds=tuple(range(count)),
                               train=TrainConfig(epochs=2 if args.quick else epochs), device=args.device)
        ids = [r["id"] for r in train_runs(reg, request)]
        for a, b in itertools.combinations(ids, 2):
            interp(reg, InterpRequest(a, b, ("naive", "weight"), InterpolationOptions(points=11, refine=False),
                                      device=args.device))
        for row, kind in enumerate(("naive", "aligned")):
            found = basins(reg, ids, THRESHOLD, kind)
            rows.append({"dataset": dataset, "width": width, "depth": depth, "networks": count, "kind": kind,
                         "threshold": THRESHOLD, "basins": found["count"], "labels": found["labels"],
                         "mean_barrier": sum(found["matrix"][i][j] for i, j in itertools.combinations(range(count), 2))
                         / (count * (count - 1) / 2)})
            print(rows[-1])
            tree_ax, heat_ax = axes[2 * row][column], axes[2 * row + 1][column]
            plot_basins(tree_ax, heat_ax, found["matrix"], [f"{i} ({label})" for i, label in
                                                            zip(ids, found["labels"])], THRESHOLD)
            tree_ax.set_title(f"{dataset} MLP w{width}: {kind}\n{found['count']} basin(s) at barrier <= {THRESHOLD}",
                              fontsize=9)
    write_rows("study6_basins", rows)
    figure("study6_basins", fig)


if __name__ == "__main__":
    main()
