"""Read-only views over the registry that the app's screens show. No torch here."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from lmctui.records import CURVE_FIELDS, CURVE_SERIES, view
from lmctui.store import Registry

ALIGNED_METHODS = ("weight", "activation")


def latest_curves(registry: Registry) -> list[dict]:
    """Every stored curve (summary fields only), newest last."""
    return [view(d, CURVE_FIELDS) for d in sorted(registry.all("curves"), key=lambda d: d.get("created") or "")]


def pair_curves(registry: Registry, run_a: str, run_b: str) -> dict[str, dict]:
    """The newest curve of each method between two runs (either direction), with its series."""
    out: dict[str, dict] = {}
    for doc in sorted(registry.all("curves"), key=lambda d: d.get("created") or ""):
        if {doc["run_a"], doc["run_b"]} == {run_a, run_b}:
            out[doc["method"]] = {**view(doc, CURVE_FIELDS), **view(doc, CURVE_SERIES)}
    return out


def pairwise_matrix(registry: Registry, run_ids: list[str], metric: str = "loss_barrier_test") -> dict:
    """For every pair of the runs: the naive barrier and the best aligned one (or None)."""
    latest: dict[tuple[frozenset, str], dict] = {}
    for doc in sorted(registry.all("curves"), key=lambda d: d.get("created") or ""):
        latest[(frozenset((doc["run_a"], doc["run_b"])), doc["method"])] = doc
    cells = {}
    for i, a in enumerate(run_ids):
        for b in run_ids[i + 1:]:
            pair = frozenset((a, b))
            naive = latest.get((pair, "naive"))
            aligned = [latest[(pair, m)][metric] for m in ALIGNED_METHODS if (pair, m) in latest]
            cells[(a, b)] = {"naive": naive[metric] if naive else None, "aligned": min(aligned) if aligned else None}
    return {"runs": run_ids, "metric": metric, "cells": cells}


def width_sweep(registry: Registry, metric: str = "loss_barrier_test") -> list[dict]:
    """Barrier against width: mean and spread over seed pairs, per setting and method."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for doc in registry.all("curves"):
        value = doc.get(metric)
        if value is None or not math.isfinite(value):
            continue
        key = (doc.get("dataset"), doc.get("arch"), doc.get("depth"), doc["method"], doc.get("width"))
        groups[key].append(value)
    rows = []
    for (dataset, arch, depth, method, width), values in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0][:4])) + (kv[0][4] or 0,)):
        rows.append({"setting": f"{dataset} {arch} depth {depth}", "method": method, "width": width,
                     "pairs": len(values), "mean": statistics.fmean(values),
                     "std": statistics.pstdev(values) if len(values) > 1 else 0.0})
    return rows
