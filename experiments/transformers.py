"""Study 8: do independently trained transformers meet in one basin after matching that
respects heads? ViTs on mnist-5k at growing width, GPTs on modular addition (modadd).

Each setting trains its seeds together (vectorized), then for the seed pairs (0, 1), (0, 2), ...
measures the test loss barrier of the straight line from A to B after no alignment (naive),
weight matching (heads solved as a linear assignment over heads of within-head assignments),
activation matching (heads matched on their outputs) and STE, and the test accuracy of the
midpoint (the pair's average).

    python experiments/transformers.py [--quick] [--vit-widths 1,2,4,8] [--gpt-widths 1,2] [--append]
    python experiments/transformers.py --timings     # the epoch and matching times of the write-up

The CSV is written after each setting, so a run cut short keeps what it finished. Barriers
are measured on the whole test set and every k-th training example (about --eval-train).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from dataclasses import replace

import torch
from common import figure, pyplot, read_rows, write_rows

from lmctui.configs import DataConfig, InterpolationOptions, ModelConfig, STEOptions, TrainConfig
from lmctui.core.averaging import load
from lmctui.core.data import load_dataset
from lmctui.core.interpolation import interpolate
from lmctui.core.matching import activation_matching, weight_matching
from lmctui.core.permutation import apply_permutation, identity_perms, spec_for
from lmctui.core.ste import ste_matching
from lmctui.core.training import train
from lmctui.core.vectorized import train_many

NAME = "study8_transformers"
METHODS = ("naive", "weight", "activation", "ste")
DEPTH, HEADS = 2, 4  # blocks and heads at every width: head dimension 8, 16, 32 at widths 1, 2, 4
MODADD = DataConfig("modadd", modulus=59, train_fraction=0.6)  # small enough to generalize in minutes


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="width 1 only, 1-2 epochs, 2 seeds: a smoke run")
    parser.add_argument("--vit-widths", default="1,2,4,8")
    parser.add_argument("--gpt-widths", default="1,2")
    parser.add_argument("--vit-epochs", type=int, default=20)
    parser.add_argument("--gpt-epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--points", type=int, default=7)
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--ste-steps", type=int, default=60)
    parser.add_argument("--eval-train", type=int, default=1000)
    parser.add_argument("--append", action="store_true", help="keep the CSV's rows of settings not measured now")
    parser.add_argument("--timings", action="store_true", help="only measure epoch and matching times")
    parser.add_argument("--name", default=NAME, help="the CSV and plot's name in assets/")
    parser.add_argument("--plot", action="store_true", help="only redraw the plot from the CSV")
    return parser.parse_args()


def settings(args) -> list[tuple[str, int]]:
    if args.quick:
        return [("vit", 1), ("gpt", 1)]
    vits = [("vit", int(w)) for w in args.vit_widths.split(",") if w]
    return vits + [("gpt", int(w)) for w in args.gpt_widths.split(",") if w]


def setup(arch: str, width: int, args) -> tuple:
    """(model config, train config, data) of one setting: Adam with a cosine schedule."""
    if arch == "vit":
        data = load_dataset(DataConfig("mnist-5k"))
        epochs = 1 if args.quick else args.vit_epochs
        train_config = TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, epochs=epochs, schedule="cosine",
                                   warmup_epochs=min(1.0, epochs / 4))
    else:
        data = load_dataset(MODADD)
        epochs = 2 if args.quick else args.gpt_epochs
        train_config = TrainConfig(optimizer="adam", lr=3e-3, batch_size=256, epochs=epochs, weight_decay=1e-4)
    config = ModelConfig(arch, width, DEPTH, "none", data.input_shape, data.num_classes, heads=HEADS)
    return config.validate(), train_config, data


def align(method: str, config, spec, a, b, data, args):
    if method == "naive":
        return identity_perms(spec, b)
    if method == "weight":
        return weight_matching(spec, a, b, restarts=args.restarts).perms
    if method == "activation":
        return activation_matching(spec, load(config, a, "cpu"), load(config, b, "cpu"), data.x_train[:1024]).perms
    options = STEOptions(steps=20 if args.quick else args.ste_steps, batch_size=128, lr=1e-2, eval_samples=256)
    return ste_matching(config, spec, a, b, data.x_train, data.y_train, options).perms


def measure_setting(arch: str, width: int, args) -> list[dict]:
    config, train_config, data = setup(arch, width, args)
    seeds = 2 if args.quick else args.seeds
    configs = [replace(train_config, init_seed=s, data_seed=s) for s in range(seeds)]
    start = time.perf_counter()
    results = train_many(config, configs, data, torch.device("cpu"))
    trained = time.perf_counter() - start
    states = [r.state_dict for r in results]
    every = max(1, len(data.y_train) // args.eval_train)
    subset = replace(data, x_train=data.x_train[::every], y_train=data.y_train[::every])
    spec, rows = spec_for(config), []
    for i, j in list(itertools.combinations(range(seeds), 2))[: args.pairs]:
        for method in METHODS:
            begin = time.perf_counter()
            perms = align(method, config, spec, states[i], states[j], data, args)
            seconds = time.perf_counter() - begin
            aligned = apply_permutation(spec, perms, states[j])
            curve = interpolate(config, states[i], aligned, subset, InterpolationOptions(points=args.points))
            summary = curve.summary()
            rows.append({"arch": arch, "dataset": data.name, "width": width, "embed": config.embed_width,
                         "depth": DEPTH, "heads": HEADS, "epochs": train_config.epochs, "method": method,
                         "pair": f"{i}-{j}", "test_acc_a": results[i].history[-1].test_acc,
                         "test_acc_b": results[j].history[-1].test_acc,
                         "loss_barrier_test": summary["loss_barrier_test"],
                         "error_barrier_test": summary["error_barrier_test"], "mid_acc_test": summary["mid_acc_test"],
                         "align_seconds": round(seconds, 3), "train_seconds": round(trained, 1)})
            print({k: rows[-1][k] for k in ("arch", "width", "pair", "method", "loss_barrier_test", "mid_acc_test")},
                  flush=True)
    return rows


def main() -> None:
    args = parse()
    if args.timings:
        return timings()
    if args.plot:
        return plot(read_rows(args.name), args.name)
    todo = settings(args)
    rows = [r for r in read_rows(args.name) if (r["arch"], r["width"]) not in set(todo)] if args.append else []
    for arch, width in todo:
        start = time.perf_counter()
        rows += measure_setting(arch, width, args)
        print(f"{arch} w{width}: {time.perf_counter() - start:.0f} s", flush=True)
        write_rows(args.name, rows)
    plot(rows, args.name)


def timings() -> None:
    """One ViT epoch on mnist-5k (3 seeds vectorized vs one at a time), and weight matching
    of two ViTs at width 4 against two MLPs of about the same parameter count."""
    rows = []
    args = argparse.Namespace(quick=False, vit_epochs=1, gpt_epochs=1)
    for width in (1, 4):
        config, train_config, data = setup("vit", width, args)
        configs = [replace(train_config, epochs=1, warmup_epochs=0.0, init_seed=s, data_seed=s) for s in range(3)]
        start = time.perf_counter()
        train_many(config, configs, data, torch.device("cpu"))
        together = time.perf_counter() - start
        start = time.perf_counter()
        for c in configs:
            train(config, c, data, torch.device("cpu"))
        alone = time.perf_counter() - start
        rows.append({"what": f"vit w{width} epoch, 3 seeds vectorized", "seconds": round(together, 2)})
        rows.append({"what": f"vit w{width} epoch, 3 seeds one at a time", "seconds": round(alone, 2)})
        print(rows[-2:], flush=True)
    vit = setup("vit", 4, args)[0]
    n_vit = sum(v.numel() for v in load(vit, _state(vit, 0), "cpu").state_dict().values())
    hidden = round((-(784 + 10 + 2) + ((784 + 10 + 2) ** 2 + 4 * n_vit) ** 0.5) / 2)  # 2 hidden layers
    mlp = ModelConfig("mlp", hidden, 2, "none", (1, 28, 28), 10)
    for config in (vit, mlp):
        spec, a, b = spec_for(config), _state(config, 0), _state(config, 1)
        params = sum(v.numel() for v in a.values())
        times = []
        for seed in range(3):
            result = weight_matching(spec, a, b, seed=seed)
            times.append(result.seconds)
        rows.append({"what": f"weight matching {config.arch} ({params} parameters), median of 3",
                     "seconds": round(statistics.median(times), 3)})
        print(rows[-1], flush=True)
    write_rows(f"{NAME}_timings", rows)


def _state(config, seed):
    from lmctui.core.training import init_model

    return init_model(config, seed).state_dict()


def plot(rows: list[dict], name: str) -> None:
    plt = pyplot()
    archs = list(dict.fromkeys(r["arch"] for r in rows))
    fig, axes = plt.subplots(2, len(archs), figsize=(4.5 * len(archs), 6.5), squeeze=False)
    colors = {"naive": "tab:red", "weight": "tab:blue", "activation": "tab:green", "ste": "tab:purple"}
    for col, arch in enumerate(archs):
        mine = [r for r in rows if r["arch"] == arch]
        widths = sorted({r["width"] for r in mine})
        for row, key in enumerate(("loss_barrier_test", "mid_acc_test")):
            ax = axes[row][col]
            for method in METHODS:
                means = [statistics.fmean(r[key] for r in mine if r["width"] == w and r["method"] == method)
                         for w in widths]
                ax.plot(widths, means, marker="o", label=method, color=colors[method])
                ax.scatter([r["width"] for r in mine if r["method"] == method],
                           [r[key] for r in mine if r["method"] == method], s=10, alpha=0.4, color=colors[method])
            if key == "mid_acc_test":
                ends = [statistics.fmean(r["test_acc_a"] for r in mine if r["width"] == w) for w in widths]
                ax.plot(widths, ends, ls="--", color="black", label="endpoints")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("width multiplier (x 32 dimensions)")
            ax.set_ylabel("test loss barrier" if row == 0 else "midpoint test accuracy")
            ax.set_title(f"{arch} ({mine[0]['dataset']}, {DEPTH} blocks, {HEADS} heads)")
            ax.legend(fontsize=7)
    figure(name, fig)


if __name__ == "__main__":
    main()
