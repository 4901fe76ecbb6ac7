"""Read-only views over the registry that the app's screens show. No torch here.

A screen never reads storage itself: it asks `Views` for a `Snapshot` off the UI
thread and draws it. Tables that did not change since the last snapshot are not
read again (the registry's change token says so without parsing anything).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from lmctui.records import CURVE_FIELDS, CURVE_SERIES, run_view, view
from lmctui.service.catalog import show_run
from lmctui.store import Registry

ALIGNED_METHODS = ("weight", "activation")


@dataclass(frozen=True)
class Snapshot:
    """Everything the main screen shows, read at one moment."""

    runs: list[dict] = field(default_factory=list)  # run records, oldest first
    jobs: list[dict] = field(default_factory=list)  # newest first
    curves: list[dict] = field(default_factory=list)  # summary fields, oldest first
    sweep: list[dict] = field(default_factory=list)  # barrier against width, per setting and method

    @property
    def running(self) -> int:
        return sum(j["status"] == "running" for j in self.jobs)

    @property
    def queued(self) -> int:
        return sum(j["status"] == "queued" for j in self.jobs)


class Views:
    """Snapshots of one registry, re-reading only the tables that changed."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._tokens: dict[str, object] = {}
        self._last = Snapshot()

    def snapshot(self) -> Snapshot:
        """The current snapshot (the previous one when nothing changed). Blocking: call off the UI thread."""
        changed = self._changed(("runs", "jobs", "curves"))
        if not changed:
            return self._last
        last = self._last
        runs = _by_created(self.registry.all("runs"), run_view) if "runs" in changed else last.runs
        jobs = list(reversed(_by_created(self.registry.all("jobs")))) if "jobs" in changed else last.jobs
        if "curves" in changed:
            docs = self.registry.all("curves")
            curves, sweep = _by_created(docs, lambda d: view(d, CURVE_FIELDS)), width_sweep(docs)
        else:
            curves, sweep = last.curves, last.sweep
        self._last = Snapshot(runs, jobs, curves, sweep)
        return self._last

    def _changed(self, tables: tuple[str, ...]) -> set[str]:
        version = getattr(self.registry, "version", None)
        if version is None:
            return set(tables)
        changed = set()
        for table in tables:
            token = version(table)
            if token != self._tokens.get(table) or token is None:
                changed.add(table)
                self._tokens[table] = token
        return changed

    def run(self, run_id: str) -> dict | None:
        """One run's record, config and metrics; None when it is gone."""
        from lmctui.errors import UserError

        try:
            return show_run(self.registry, run_id)
        except UserError:
            return None

    def pair_curves(self, run_a: str, run_b: str) -> dict[str, dict]:
        return pair_curves(self.registry, run_a, run_b)

    def pairwise(self, run_ids: list[str], metric: str = "loss_barrier_test") -> dict:
        return pairwise_matrix(self.registry, run_ids, metric)


def _by_created(docs: list[dict], shape=lambda d: d) -> list[dict]:
    return [shape(d) for d in sorted(docs, key=lambda d: d.get("created") or "")]


def pair_curves(registry: Registry, run_a: str, run_b: str) -> dict[str, dict]:
    """The newest curve of each method between two runs (either direction), with its series."""
    out: dict[str, dict] = {}
    for doc in _by_created(registry.all("curves")):
        if {doc["run_a"], doc["run_b"]} == {run_a, run_b}:
            out[doc["method"]] = {**view(doc, CURVE_FIELDS), **view(doc, CURVE_SERIES)}
    return out


def pairwise_matrix(registry: Registry, run_ids: list[str], metric: str = "loss_barrier_test") -> dict:
    """For every pair of the runs: the naive barrier and the best aligned one (or None)."""
    latest: dict[tuple[frozenset, str], dict] = {}
    for doc in _by_created(registry.all("curves")):
        latest[(frozenset((doc["run_a"], doc["run_b"])), doc["method"])] = doc
    cells = {}
    for i, a in enumerate(run_ids):
        for b in run_ids[i + 1:]:
            pair = frozenset((a, b))
            naive = latest.get((pair, "naive"))
            aligned = [latest[(pair, m)][metric] for m in ALIGNED_METHODS if (pair, m) in latest]
            cells[(a, b)] = {"naive": naive[metric] if naive else None, "aligned": min(aligned) if aligned else None}
    return {"runs": run_ids, "metric": metric, "cells": cells}


def width_sweep(curves: list[dict], metric: str = "loss_barrier_test") -> list[dict]:
    """Barrier against width: mean and spread over seed pairs, per setting and method."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for doc in curves:
        value = doc.get(metric)
        if value is None or not math.isfinite(value):
            continue
        key = (doc.get("dataset"), doc.get("arch"), doc.get("depth"), doc["method"], doc.get("width"))
        groups[key].append(value)
    rows = []
    for (dataset, arch, depth, method, width), values in sorted(
            groups.items(), key=lambda kv: tuple(map(str, kv[0][:4])) + (kv[0][4] or 0,)):
        rows.append({"setting": f"{dataset} {arch} depth {depth}", "method": method, "width": width,
                     "pairs": len(values), "mean": statistics.fmean(values),
                     "std": statistics.pstdev(values) if len(values) > 1 else 0.0})
    return rows
