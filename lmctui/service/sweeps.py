"""Sweeps: train N seeds at each value of one training axis, then measure barriers and averages.

A sweep is a registry entity (`sweeps`): its request, one row per (value, method,
seed pair) and a summary per (value, method). Finished runs with an identical config
are reused rather than trained again. A sweep job run again (re-queued after it was
interrupted) takes up the runs its earlier attempt left unfinished from their resume
states; the curves that attempt stored are reused pair by pair (`interp_loaded`).
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import replace
from typing import Callable

from lmctui.configs import InterpolationOptions
from lmctui.core.training import Cancelled
from lmctui.errors import WorkFailed
from lmctui.records import SWEEP_ROW_FIELDS as ROW_FIELDS
from lmctui.service.loaded import LoadedRuns
from lmctui.service.requests import SweepRequest
from lmctui.service.science import average_loaded, interp_loaded
from lmctui.service.training import PreparedTraining, StopCheck, prepare_training, train_runs
from lmctui.store import Registry
from lmctui.store.registry import now

BARRIER_KEYS = ("loss_barrier_test", "error_barrier_test", "loss_barrier_train", "error_barrier_train")


def create_sweep(registry: Registry, request: SweepRequest) -> dict:
    return registry.insert("sweeps", {"status": "queued", "params": request.to_params(), "rows": [], "summary": []})


def run_sweep(registry: Registry, request: SweepRequest, should_stop: StopCheck | None = None,
              on_progress: Callable[[float, str], None] | None = None, job: str | None = None) -> dict:
    """Train (or reuse), interpolate every seed pair by each method, average; store the sweep."""
    request.validate()  # every value, before any work
    report = on_progress or (lambda fraction, message: None)
    prepared = [prepare_training(registry, request.request_for(v)) for v in request.values]
    sweep_id = create_sweep(registry, request)["id"]
    registry.update("sweeps", sweep_id, {"status": "running", "started": now()})
    rows, summary = [], []
    count = len(request.values)
    try:
        for index, (value, ready) in enumerate(zip(request.values, prepared)):
            report(index / count, f"{request.axis}={value}: training")
            ids = _runs_for(registry, ready, should_stop, job)
            loaded = LoadedRuns.load(registry, ids, ready.device)
            value_rows = _barrier_rows(loaded, request, value, lambda done, pairs, i=index: report(
                (i + 0.5 + 0.4 * done / pairs) / count, f"{request.axis}={value}: barriers {done}/{pairs} pairs"))
            rows += value_rows
            summary += _summarize(loaded, request, value, value_rows)
            registry.update("sweeps", sweep_id, {"rows": rows, "summary": summary})
    except BaseException as err:
        status = err.status if isinstance(err, Cancelled) else \
            "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        registry.update("sweeps", sweep_id, {"status": status, "error": f"{type(err).__name__}: {err}",
                                             "finished": now()})
        raise
    registry.update("sweeps", sweep_id, {"status": "done", "finished": now()})
    report(1.0, "done")
    return {"sweep": sweep_id, "rows": rows, "summary": summary}


def _runs_for(registry: Registry, prepared: PreparedTraining, should_stop, job: str | None) -> list[str]:
    """One finished run per seed with exactly this config: reused if stored, else trained."""
    request = prepared.request
    wanted = {seed: _canonical(prepared.stored_config(seed)) for seed in request.seeds}
    found = {}
    for doc in registry.all("runs"):  # configs are read (from the runs' folders) only for likely matches
        if doc.get("kind") == "trained" and doc.get("status") == "done" and isinstance(doc.get("seed"), int) \
                and doc["seed"] in wanted and doc["seed"] not in found and doc.get("dataset") == request.data.name:
            if _canonical(registry.run_config(doc["id"])) == wanted[doc["seed"]]:
                found[doc["seed"]] = doc["id"]
    missing = tuple(s for s in request.seeds if s not in found)
    if missing:
        only_missing = replace(prepared, request=replace(request, seeds=missing))
        for run in train_runs(registry, only_missing.request, should_stop=should_stop, prepared=only_missing,
                              job=job, same_config=True):
            if run["status"] != "done":
                raise WorkFailed(f"run {run['id']} {run['status']}: {run.get('error')}")
            found[run["seed"]] = run["id"]
    return [found[s] for s in request.seeds]


def _canonical(config) -> str:
    return json.dumps(config, sort_keys=True, default=list)


def _barrier_rows(loaded: LoadedRuns, request: SweepRequest, value,
                  on_pair: Callable[[int, int], None] = lambda done, pairs: None) -> list[dict]:
    rows = []
    options = InterpolationOptions(points=request.points)
    pairs = list(itertools.combinations(range(len(loaded.runs)), 2))
    on_pair(0, len(pairs))
    for done, (a, b) in enumerate(pairs, start=1):  # a pair's curves already stored are reused (interp_loaded)
        for curve in interp_loaded(loaded, a, b, request.methods, options, matching=request.matching):
            rows.append({"value": value, "width": curve["width"], **{k: curve[k] for k in ROW_FIELDS[1:]}})
        on_pair(done, len(pairs))
    return rows


def _summarize(loaded: LoadedRuns, request: SweepRequest, value, value_rows: list[dict]) -> list[dict]:
    """Per method: the barriers' mean and spread over the seed pairs, and the average of all seeds
    against the mean of its endpoints, like with like: a BatchNorm average is evaluated after its
    statistics are re-estimated, and so are the endpoints it is compared with (the curves reset them
    too), while the endpoints as trained stay beside them (`endpoint_test_acc_mean_trained`)."""
    out = []
    for method in request.methods:
        rows = [r for r in value_rows if r["method"] == method]
        averaged = average_loaded(loaded, method, register=False, matching=request.matching)
        endpoints = averaged["endpoints"]
        reset = all(e.get("test_acc_reset") is not None for e in endpoints)
        entry = {"value": value, "method": method, "pairs": len(rows), "average_test_acc": averaged["test_acc"],
                 "endpoint_test_acc_mean": statistics.fmean(e["test_acc_reset" if reset else "test_acc"]
                                                            for e in endpoints)}
        for key in BARRIER_KEYS:
            values = [r[key] for r in rows]
            entry[f"{key}_mean"] = statistics.fmean(values)
            entry[f"{key}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        # last, in the order a Slurm sweep's stored (key-sorted) result gives them back (cluster_results)
        entry["endpoint_test_acc_mean_trained"] = statistics.fmean(e["test_acc"] for e in endpoints)
        entry["endpoints_reset"] = reset
        out.append(entry)
    return out
