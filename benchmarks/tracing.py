"""Traced permutation specs: python -m benchmarks.tracing

The time to trace and verify torchvision's resnet18 (num_classes=10, no weights) and the
share of its hidden units the traced spec permutes; weight matching of two built-in VGGs
(width 4, BatchNorm, 8 restarts) with the traced spec against the hand-written one
(the same permutations and objective, and the ratio of their times). Medians of 3.
"""

from __future__ import annotations

import statistics
import time

import torch

from lmctui.core.matching import weight_matching
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import spec_for
from lmctui.core.spec_check import verify_spec
from lmctui.core.tracing import trace_spec


def resnet18() -> dict:
    import torchvision

    model, x = torchvision.models.resnet18(num_classes=10), torch.randn(2, 3, 32, 32)
    trace_spec(model, x)  # the first export in a process pays torch.export's warm-up
    traces, checks = [], []
    for _ in range(3):
        start = time.perf_counter()
        traced = trace_spec(model, x)
        middle = time.perf_counter()
        check = verify_spec(traced.spec, model, x)
        traces.append(middle - start)
        checks.append(time.perf_counter() - middle)
    return {"trace_s": statistics.median(traces), "verify_s": statistics.median(checks), "verified": check.ok,
            "permutable_share": traced.permutable_share, "hidden_units": traced.hidden_units}


def vgg_matching() -> dict:
    config = ModelConfig("vgg", 4, 0, "batch", (3, 32, 32), 10)
    a, b = (build_model(config, torch.Generator().manual_seed(s)).state_dict() for s in (1, 2))
    specs = {"hand": spec_for(config), "traced": trace_spec(build_model(config), torch.randn(2, 3, 32, 32)).spec}
    results = {name: [] for name in specs}
    for _ in range(3):  # interleaved, so a busy moment costs both alike
        for name, spec in specs.items():
            results[name].append(weight_matching(spec, a, b, seed=0, restarts=8))
    hand, traced = results["hand"][-1], results["traced"][-1]
    renamed = {specs["traced"].axes[k][axis]: p for p, ((k, axis), *_) in specs["hand"].perm_axes.items()}
    seconds = {name: statistics.median(r.seconds for r in runs) for name, runs in results.items()}
    return {"hand_s": seconds["hand"], "traced_s": seconds["traced"], "ratio": seconds["traced"] / seconds["hand"],
            "same_objective": hand.objective[-1] == traced.objective[-1],
            "same_permutations": all(torch.equal(traced.perms[q], hand.perms[p]) for q, p in renamed.items())}


if __name__ == "__main__":
    print({"resnet18": resnet18(), "vgg_matching": vgg_matching()})
