"""Study 7: CNNs on real 28x28 digits (mnist-5k) on a CPU. Does aligning close the barrier
as width grows, as Git Re-Basin reports for ResNet-20 on CIFAR-10 (8-32x wide needed)?

VGG (no norm; BatchNorm with reset) and ResNet-20 (LayerNorm; BatchNorm with reset),
seeds trained together, every seed pair interpolated naive and after weight matching
(with restarts), activation matching and STE; REPAIR on the no-norm VGG.

    python experiments/cnn_mnist5k.py [--quick] [--home DIR] [--widths 1,2] [--epochs 6] [--append]

Settings run cheapest first (VGGs at width 1 and 2, ResNet-20s at width 1, ...) and the CSV is
written after each, so a run cut short keeps what it finished; --append keeps the rows of the
settings this run does not measure (a later run adds widths or models to the same CSV). Barriers are measured on
all 1,000 test images and every k-th training image, about --eval-train of them (a CPU budget;
the same images calibrate the BatchNorm resets).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from common import figure, measure_on_subset, pyplot, read_rows, registry, write_rows

from lmctui.figures import plot_sweep

from lmctui.configs import DataConfig, InterpolationOptions, STEOptions, TrainConfig
from lmctui.service.loaded import LoadedRuns
from lmctui.service.requests import Matching, TrainRequest
from lmctui.service.science import interp_loaded
from lmctui.service.training import train_runs

MODELS = [("vgg", "none"), ("vgg", "batch"), ("resnet20", "layer"), ("resnet20", "batch")]
METHODS = ("naive", "weight", "activation", "ste")
NAME = "study7_cnn_mnist5k"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--home", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--widths", default="1,2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--points", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=2, help="seed pairs measured per setting: (0,1), (0,2), ...")
    parser.add_argument("--eval-train", type=int, default=500, help="about this many training images measure the barriers")
    parser.add_argument("--ste-steps", type=int, default=60)
    parser.add_argument("--models", default=",".join(f"{a}-{n}" for a, n in MODELS))
    parser.add_argument("--append", action="store_true",
                        help="keep the CSV's rows of settings this run does not measure (default: start afresh)")
    return parser.parse_args()


def main() -> None:
    args = parse()
    reg = registry(args.home)
    widths = [1] if args.quick else [int(w) for w in args.widths.split(",")]
    models = [tuple(m.split("-")) for m in args.models.split(",")]
    epochs, seeds = (1, 2) if args.quick else (args.epochs, args.seeds)
    matching = study_matching(20 if args.quick else args.ste_steps)
    settings = sorted(itertools.product(widths, models), key=cost)
    measured = {(arch, norm, width) for width, (arch, norm) in settings}
    rows = [r for r in read_rows(NAME) if (r["arch"], r["norm"], r["width"]) not in measured] if args.append else []
    for width, (arch, norm) in settings:
        start = time.perf_counter()
        request = setting_request(arch, norm, width, seeds, epochs, args.device)
        runs = train_runs(reg, request)
        loaded = LoadedRuns.load(reg, [r["id"] for r in runs], args.device)
        measure_on_subset(loaded, args.eval_train)
        variants = [("", InterpolationOptions(points=args.points))]
        if norm == "none":
            variants.append((" +REPAIR", InterpolationOptions(points=args.points, repair=True)))
        for a, b in list(itertools.combinations(range(seeds), 2))[: args.pairs]:
            for suffix, options in variants:
                methods = METHODS if not suffix else ("naive", "weight")
                for curve in interp_loaded(loaded, a, b, methods, options, matching=matching):
                    rows.append({"arch": arch, "norm": norm, "width": width, "epochs": epochs,
                                 "method": curve["method"] + suffix, "pair": f"{curve['run_a']}-{curve['run_b']}",
                                 "endpoint_test_acc": statistics.fmean(r["test_acc"] for r in runs),
                                 **{k: curve[k] for k in ("loss_barrier_test", "loss_barrier_test_refined",
                                                          "error_barrier_test", "mid_acc_test")}})
                    print({k: rows[-1][k] for k in ("arch", "norm", "width", "method", "loss_barrier_test")},
                          flush=True)
        print(f"{arch}-{norm} w{width}: {time.perf_counter() - start:.0f} s", flush=True)
        write_rows(NAME, rows)  # after every setting: a long run keeps what it has
    plot(rows)


def setting_request(arch: str, norm: str, width: int, seeds: int, epochs: int, device: str) -> TrainRequest:
    """One setting's seeds: Adam 1e-3 with a cosine schedule, batch 64, trained together."""
    return TrainRequest(DataConfig("mnist-5k"), arch, width, norm=norm, seeds=tuple(range(seeds)),
                        train=TrainConfig(epochs=epochs, optimizer="adam", lr=1e-3, batch_size=64, schedule="cosine"),
                        device=device)


def study_matching(ste_steps: int) -> Matching:
    """Weight matching keeps the best of 8 visiting orders; STE learns on batches of 128."""
    return Matching(restarts=8, ste=STEOptions(steps=ste_steps, batch_size=128, lr=1e-2, eval_samples=256))


def cost(setting: tuple[int, tuple[str, str]]) -> int:
    """A setting's rough cost: convolutions grow with width squared; ResNet-20 is about 9 VGGs here."""
    width, (arch, _) = setting
    return width * width * (9 if arch == "resnet20" else 1)


def plot(rows: list[dict]) -> None:
    plt = pyplot()
    models = list(dict.fromkeys((r["arch"], r["norm"]) for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 4), squeeze=False)
    for ax, (arch, norm) in zip(axes[0], models):
        mine = sorted((r for r in rows if (r["arch"], r["norm"]) == (arch, norm)), key=lambda r: r["width"])
        plot_sweep(ax, mine, x="width", log_x=True, x_label="width multiplier")
        ax.set_title(f"{arch}, norm {norm}")
        ax.set_ylabel("test loss barrier (line: mean; band: pairs)")
    figure(NAME, fig)


if __name__ == "__main__":
    main()
