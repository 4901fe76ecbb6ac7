"""Study 7, follow-up: why does weight matching barely help ResNet-20 with BatchNorm on mnist-5k
when activation matching removes nearly all of its barrier?

Two questions, on the networks of one study-7 setting (trained here if the registry lacks them):
- the search or the objective? Score the permutations of each method on weight matching's
  objective <A, P(B)>, and run weight matching from activation matching's permutations. If
  activation matching's permutations scored higher, coordinate descent would be missing a
  better optimum; if they score lower, the objective itself prefers worse permutations.
- BatchNorm's arbitrary scale? BatchNorm makes the scale of each filter before it free, and
  the objective's inner products see that scale. Match on scale-free copies instead (BatchNorm
  folded into the convolution; every filter scaled to unit norm), apply the permutations to the
  real B, and measure the barrier as study 7 does (BatchNorm reset, same images).

    python experiments/matching_probe.py --home DIR [--arch resnet20 --norm batch --width 2] [--append]

Use the --home of a cnn_mnist5k.py run to reuse its networks and alignments.
"""

from __future__ import annotations

import argparse
import itertools
import json

import torch
from cnn_mnist5k import setting_request, study_matching
from common import measure_on_subset, read_rows, registry, write_rows

from lmctui.configs import InterpolationOptions
from lmctui.core.interpolation import interpolate
from lmctui.core.matching import weight_matching, weight_objective
from lmctui.core.permutation import apply_permutation, identity_perms, spec_for
from lmctui.service.loaded import LoadedRuns
from lmctui.service.science import align_loaded
from lmctui.service.training import train_runs

NAME = "study7_matching_probe"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="resnet20")
    parser.add_argument("--norm", default="batch")
    parser.add_argument("--width", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--eval-train", type=int, default=500)
    parser.add_argument("--ste-steps", type=int, default=60)
    parser.add_argument("--append", action="store_true", help="keep the CSV's rows of other settings")
    return parser.parse_args()


def main() -> None:
    args = parse()
    reg = registry(args.home)
    ids = setting_runs(reg, args)
    loaded = LoadedRuns.load(reg, ids, args.device)
    measure_on_subset(loaded, args.eval_train)
    spec, matching = spec_for(loaded.model), study_matching(args.ste_steps)
    setting = (args.arch, args.norm, args.width)
    rows = [r for r in read_rows(NAME) if (r["arch"], r["norm"], r["width"]) != setting] if args.append else []
    for a, b in list(itertools.combinations(range(len(ids)), 2))[: args.pairs]:
        state_a, state_b = loaded[a].state, loaded[b].state
        pair = {"arch": args.arch, "norm": args.norm, "width": args.width, "pair": f"{ids[a]}-{ids[b]}"}
        perms = {"identity": identity_perms(spec, state_b)}
        for method in ("weight", "activation", "ste"):
            record, _ = align_loaded(loaded, a, b, method, matching=matching)
            stored = json.loads((reg.run_dir(record["aligned_run"]) / "permutation.json").read_text())
            perms[method] = {p: torch.as_tensor(v) for p, v in stored.items()}
        climbed = weight_matching(spec, state_a, state_b, init=perms["activation"])
        perms["weight from activation"] = climbed.perms
        for method, found in perms.items():
            moved = sum(int((found[p] != perms["activation"][p]).sum()) for p in found)
            rows.append({**pair, "question": "objective", "permutation": method,
                         "objective": weight_objective(spec, found, state_a, state_b),
                         "units_differing_from_activation": moved, "units": sum(len(v) for v in found.values())})
            print(rows[-1], flush=True)
        views = [("weights", lambda s: s)]
        if batchnorm_pairs(state_a):
            views += [("bn folded", fold_batchnorm), ("unit filters", unit_filters)]
        for matched_on, view in views:
            found = weight_matching(spec, view(state_a), view(state_b), restarts=matching.restarts).perms
            curve = interpolate(loaded.model, state_a, apply_permutation(spec, found, state_b), loaded.data,
                                InterpolationOptions(points=7))
            summary = curve.summary()
            rows.append({**pair, "question": "scale", "permutation": f"weight matching on {matched_on}",
                         "loss_barrier_test": summary["loss_barrier_test"], "mid_acc_test": summary["mid_acc_test"]})
            print(rows[-1], flush=True)
        write_rows(NAME, rows)


def setting_runs(reg, args) -> list[str]:
    """The finished runs of the setting (seeds 0, 1, ...), trained now if the registry lacks them."""
    wanted = {"dataset": "mnist-5k", "arch": args.arch, "norm": args.norm, "width": args.width,
              "epochs": args.epochs, "status": "done", "kind": "trained"}
    by_seed = {}
    for doc in reg.all("runs"):
        if all(doc.get(k) == v for k, v in wanted.items()):
            by_seed.setdefault(doc["seed"], doc["id"])
    if all(seed in by_seed for seed in range(args.seeds)):
        return [by_seed[seed] for seed in range(args.seeds)]
    request = setting_request(args.arch, args.norm, args.width, args.seeds, args.epochs, args.device)
    return [r["id"] for r in train_runs(reg, request)]


def batchnorm_pairs(state) -> list[tuple[str, str]]:
    """(convolution, BatchNorm) module names: every norm with running statistics follows the conv
    of the same name (stem_conv/stem_norm, blocks.i.conv1/norm1, shortcut_conv/shortcut_norm, convs.i/norms.i)."""
    norms = [k[: -len(".running_var")] for k in state if k.endswith(".running_var")]
    return [(n.replace("norm", "conv"), n) for n in norms]


def fold_batchnorm(state):
    """The function's own filters: BatchNorm's scale folded into the convolution before it,
    its shift into the bias (kept in the norm's bias slot; the norm's weight becomes 1)."""
    out = dict(state)
    for conv, norm in batchnorm_pairs(state):
        scale = state[f"{norm}.weight"] / torch.sqrt(state[f"{norm}.running_var"] + 1e-5)  # BatchNorm2d's eps
        out[f"{conv}.weight"] = state[f"{conv}.weight"] * scale[:, None, None, None]
        out[f"{norm}.weight"] = torch.ones_like(scale)
        out[f"{norm}.bias"] = state[f"{norm}.bias"] - state[f"{norm}.running_mean"] * scale
    return out


def unit_filters(state):
    """Every filter before a BatchNorm scaled to unit norm: the scale BatchNorm ignores, removed."""
    out = dict(state)
    for conv, _ in batchnorm_pairs(state):
        w = state[f"{conv}.weight"]
        out[f"{conv}.weight"] = w / w.flatten(1).norm(dim=1)[:, None, None, None]
    return out


if __name__ == "__main__":
    main()
