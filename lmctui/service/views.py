"""Read-only views over the registry that the app's screens show. No torch here.

A screen never reads storage itself: it asks `Views` for a `Snapshot` off the UI
thread and draws it. Tables that did not change since the last snapshot are not
read again (the registry's change token says so without parsing anything; a registry
without `version` is asked through `os.stat` of its file), and the other views are
cached the same way, so an idle app costs a few `stat` calls a second.

The app's first snapshot (`first_snapshot`) holds only the newest page of runs and the
jobs, read without parsing the whole runs table (`Registry.newest`); the full snapshot
follows from the app's watcher, off the UI thread.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from lmctui.errors import UserError
from lmctui.records import ALIGNMENT_FIELDS, CURVE_FIELDS, CURVE_SERIES, run_view, view
from lmctui.service.basins import basins
from lmctui.service.catalog import incompatibility, show_run
from lmctui.service.curves import distinct_curves
from lmctui.service.methods import align_methods
from lmctui.store import Registry

FIRST_PAGE = 500  # runs in the app's first snapshot (the tail of the table): what its runs pane draws at once


@dataclass(frozen=True)
class Snapshot:
    """Everything the main screen shows, read at one moment."""

    runs: list[dict] = field(default_factory=list)  # run records, oldest first
    jobs: list[dict] = field(default_factory=list)  # newest first
    curves: list[dict] = field(default_factory=list)  # summary fields, oldest first, one per identity
    sweep: list[dict] = field(default_factory=list)  # barrier against width, per setting and method
    runs_total: int | None = None  # runs in the registry when `runs` is only the newest page of them

    @property
    def run_count(self) -> int:
        return len(self.runs) if self.runs_total is None else self.runs_total

    @property
    def running(self) -> int:
        return sum(j["status"] == "running" for j in self.jobs)

    @property
    def queued(self) -> int:
        return sum(j["status"] == "queued" for j in self.jobs)


class Views:
    """Snapshots of one registry, re-reading only the tables that changed. Thread-safe."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._tokens: dict[tuple[str, str], object] = {}  # (view, table) -> token last read
        self._last = Snapshot()
        self._cache: dict[tuple, tuple[object, object]] = {}  # key -> (token, value)
        self._run_rows: dict[str, tuple[dict, dict]] = {}  # run id -> (document read, its row)
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        """The current snapshot (the previous one when nothing changed). Blocking: call off the UI thread."""
        with self._lock:
            changed = self._changed("snapshot", ("runs", "jobs", "curves"))
            if not changed:
                return self._last
            last = self._last
            runs = self._runs() if "runs" in changed else last.runs
            jobs = list(reversed(_by_created(self.registry.all("jobs")))) if "jobs" in changed else last.jobs
            if "curves" in changed:
                docs = self.registry.all("curves")
                distinct, _ = distinct_curves(self.registry, docs)  # the Barriers pane: each measurement once
                curves, sweep = _by_created(distinct, lambda d: view(d, CURVE_FIELDS)), width_sweep(docs)
            else:
                curves, sweep = last.curves, last.sweep
            self._last = Snapshot(runs, jobs, curves, sweep)
            return self._last

    def _runs(self) -> list[dict]:
        """Every run's row, oldest first. A document the registry did not replace since the last
        snapshot keeps its row (the same object): at 100,000 runs a change costs a sort, not
        100,000 rows, and the app compares unchanged rows by identity."""
        docs = self.registry.all("runs", copy=False)
        rows = {}
        for doc in docs:
            seen = self._run_rows.get(doc["id"])
            rows[doc["id"]] = (doc, seen[1] if seen is not None and seen[0] is doc else run_row(doc))
        self._run_rows = rows
        return [rows[doc["id"]][1] for doc in sorted(docs, key=lambda d: d.get("created") or "")]

    def first_snapshot(self, page: int = FIRST_PAGE) -> Snapshot:
        """The newest `page` runs (and how many there are) and the jobs: what the app shows first.
        It parses only those runs, so it is quick at any size; it records no change tokens, so
        the next `snapshot` reads everything."""
        docs, total = self.registry.newest("runs", page)
        jobs = list(reversed(_by_created(self.registry.all("jobs"))))
        with self._lock:
            self._last = Snapshot(_by_created(docs, run_row), jobs, runs_total=total if len(docs) < total else None)
            return self._last

    def changed_since_snapshot(self) -> bool:
        """Whether a table the snapshot shows changed since it was read (a few `stat` calls)."""
        return any(self.token(t) != self._tokens.get(("snapshot", t)) or self.token(t) is None
                   for t in ("runs", "jobs", "curves"))

    def token(self, table: str):
        """A cheap change token of one table: the registry's own, else its file's stat; None: unknown."""
        version = getattr(self.registry, "version", None)
        if version is not None:
            return version(table)
        return _stat_token(getattr(self.registry, "path", None))

    def _changed(self, name: str, tables: tuple[str, ...]) -> set[str]:
        changed = set()
        for table in tables:
            token = self.token(table)
            if token != self._tokens.get((name, table)) or token is None:
                changed.add(table)
                self._tokens[(name, table)] = token
        return changed

    def _cached(self, key: tuple, token, compute):
        """`compute()`, or what it gave last time while `token` is unchanged (None: always compute)."""
        with self._lock:
            hit = self._cache.get(key)
        if token is not None and hit is not None and hit[0] == token:
            return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (token, value)
        return value

    def run(self, run_id: str) -> dict | None:
        """One run's record, config and metrics, and for an aligned run the alignment that made it;
        None when it is gone. Re-read only when the run or alignment table or the run's metrics
        file changed."""
        metrics = self.registry.run_dir(run_id) / "metrics.jsonl"
        token = (self.token("runs"), _stat_token(metrics), self.token("alignments"))

        def read():
            try:
                shown = show_run(self.registry, run_id)
            except UserError:
                return None
            if shown["run"].get("kind") == "aligned":
                shown["alignment"] = alignment_of(self.registry, run_id)
            return shown

        return self._cached(("run", run_id), None if None in token else token, read)

    def job(self, job_id: str) -> dict | None:
        """One job's document (params, status, message, error, result); None when it is gone."""
        return self._cached(("job", job_id), self.token("jobs"), lambda: self.registry.get("jobs", job_id))

    def pair_curves(self, run_a: str, run_b: str) -> dict[str, dict]:
        return self._cached(("pair", run_a, run_b), self.token("curves"),
                            lambda: pair_curves(self.registry, run_a, run_b))

    def pairwise(self, run_ids: list[str], metric: str = "loss_barrier_test") -> dict:
        token = (self.token("curves"), self.token("runs"))
        return self._cached(("pairwise", tuple(run_ids), metric), None if None in token else token,
                            lambda: pairwise_matrix(self.registry, run_ids, metric))

    def basins(self, run_ids: list[str], threshold: float, kind: str = "aligned",
               metric: str = "loss_barrier_test") -> dict:
        """The runs grouped into basins by their stored barriers (`service.basins`), or {"error": why}
        while a pair lacks a curve. Cached like the matrix it is computed from."""
        def compute():
            try:
                return basins(self.registry, run_ids, threshold, kind, metric)
            except UserError as err:
                return {"error": str(err)}

        token = (self.token("curves"), self.token("runs"))
        return self._cached(("basins", tuple(run_ids), threshold, kind, metric), None if None in token else token,
                            compute)


def _stat_token(path) -> tuple | None:
    """(mtime, size, inode) of a file: changes on every write or atomic replace; None when unknown."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return ("missing",)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def alignment_of(registry: Registry, run_id: str) -> dict | None:
    """The stored alignment whose permuted network is `run_id` (None: made elsewhere, or removed)."""
    for doc in registry.all("alignments"):
        if doc.get("aligned_run") == run_id:
            return view(doc, ALIGNMENT_FIELDS)
    return None


def restart_spread(alignment: dict) -> dict | None:
    """Weight matching's restarts: how many, the best objective and the min / median / max over
    the restarts (None for a method without restarts). A wide spread says the visiting order
    matters for this pair, so more restarts may find a better alignment."""
    objectives = [o for o in alignment.get("restart_objectives") or [] if o is not None]
    if not objectives:
        return None
    return {"restarts": len(objectives), "best": max(objectives), "best_restart": alignment.get("best_restart"),
            "min": min(objectives), "median": statistics.median(objectives), "max": max(objectives)}


def run_row(doc: dict) -> dict:
    """A run as the app's table shows it: the stable view, plus how a derived run was made."""
    return {**run_view(doc), "method": doc.get("align_method") or doc.get("average_method"),
            "aligned_to": doc.get("aligned_to")}


def _by_created(docs: list[dict], shape=lambda d: d) -> list[dict]:
    return [shape(d) for d in sorted(docs, key=lambda d: d.get("created") or "")]


def pair_curves(registry: Registry, run_a: str, run_b: str) -> dict[str, dict]:
    """The newest curve of each method between two runs (either direction), with its series;
    a REPAIR curve is its own method ('weight repair'), so it never hides the plain one."""
    out: dict[str, dict] = {}
    for doc in _by_created(registry.all("curves")):
        if {doc["run_a"], doc["run_b"]} == {run_a, run_b}:
            out[doc["method"] + (" repair" if doc.get("repair") else "")] = {**view(doc, CURVE_FIELDS),
                                                                             **view(doc, CURVE_SERIES)}
    return out


def pairwise_matrix(registry: Registry, run_ids: list[str], metric: str = "loss_barrier_test") -> dict:
    """For every pair of the runs: the naive barrier and the best aligned one (or None)."""
    latest: dict[tuple[frozenset, str], dict] = {}
    for doc in _by_created(registry.all("curves")):
        if not doc.get("repair"):  # the matrix compares plain barriers; REPAIR has its own curves
            latest[(frozenset((doc["run_a"], doc["run_b"])), doc["method"])] = doc
    cells = {}
    for i, a in enumerate(run_ids):
        for b in run_ids[i + 1:]:
            pair = frozenset((a, b))
            naive = latest.get((pair, "naive"))
            aligned = [latest[(pair, m)][metric] for m in align_methods() if (pair, m) in latest]
            cells[(a, b)] = {"naive": naive[metric] if naive else None, "aligned": min(aligned) if aligned else None}
    return {"runs": run_ids, "metric": metric, "cells": cells, "incompatible": incompatible_pairs(registry, run_ids)}


def incompatible_pairs(registry: Registry, run_ids: list[str]) -> dict[tuple[str, str], str]:
    """{(a, b): why} for the pairs of these runs that cannot be aligned or interpolated."""
    docs = {run_id: registry.get("runs", run_id) for run_id in run_ids}
    out = {}
    for i, a in enumerate(run_ids):
        for b in run_ids[i + 1:]:
            if docs[a] is None or docs[b] is None:
                out[(a, b)] = f"run {a if docs[a] is None else b} is gone"
                continue
            try:
                why = incompatibility(docs[a], docs[b])
            except (KeyError, TypeError):
                why = f"runs {a} and {b} have no comparable config"
            if why:
                out[(a, b)] = why
    return out


def width_sweep(curves: list[dict], metric: str = "loss_barrier_test") -> list[dict]:
    """Barrier against width: mean and spread over seed pairs, per setting and method.

    A pair counts once per method: a re-run interpolation replaces the earlier curve
    (the newest wins; REPAIR curves are their own method). The setting names everything
    but the width that changes a barrier (data, model, optimizer, lr, epochs), so runs
    trained differently are never averaged together.
    """
    newest: dict[tuple, dict] = {}
    for doc in sorted(curves, key=lambda d: d.get("created") or ""):
        method = doc["method"] + (" repair" if doc.get("repair") else "")
        newest[(frozenset((doc.get("run_a"), doc.get("run_b"))), method)] = {**doc, "method": method}
    groups: dict[tuple, list[float]] = defaultdict(list)
    for doc in newest.values():
        value = doc.get(metric)
        if value is None or not math.isfinite(value):
            continue
        groups[(sweep_setting(doc), doc["method"], doc.get("width"))].append(value)
    rows = []
    for (setting, method, width), values in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        rows.append({"setting": setting, "method": method, "width": width, "pairs": len(values),
                     "mean": statistics.fmean(values), "std": statistics.pstdev(values) if len(values) > 1 else None})
    return rows


def sweep_setting(doc: dict) -> str:
    """What two curves must share, but width, to be points of one sweep line: 'moons mlp d1 sgd lr0.05 10ep'."""
    parts = [doc.get("dataset"), doc.get("arch")]
    if doc.get("depth") is not None:
        parts.append(f"d{doc['depth']}")
    if doc.get("norm") not in (None, "none"):
        parts.append(doc["norm"])
    if doc.get("optimizer"):
        parts.append(doc["optimizer"])
    if doc.get("lr") is not None:
        parts.append(f"lr{doc['lr']:g}")
    if doc.get("epochs") is not None:
        parts.append(f"{doc['epochs']}ep")
    return " ".join(str(p) for p in parts if p is not None)
