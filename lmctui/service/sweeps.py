"""Sweeps: train N seeds at each value of one training axis, then measure barriers and averages.

A sweep is a registry entity (`sweeps`): its parameters, one row per (value, method,
seed pair) and a summary per (value, method). Finished runs with an identical config
are reused rather than trained again.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import replace
from typing import Callable

from lmctui.choices import CURVE_METHODS, OPTIMIZERS
from lmctui.core.data import DataConfig
from lmctui.core.interpolation import InterpolationOptions
from lmctui.core.training import TrainConfig
from lmctui.errors import UserError
from lmctui.service import science
from lmctui.service.training import TrainRequest, _data_dict, prepare_training, seed_config, train_runs
from lmctui.store import Registry
from lmctui.store.registry import now

SWEEP_AXES = {"width": int, "depth": int, "lr": float, "batch_size": int, "epochs": int, "optimizer": str}
ROW_FIELDS = ("value", "method", "run_a", "run_b", "loss_barrier_test", "error_barrier_test",
              "loss_barrier_train", "error_barrier_train")
SUMMARY_FIELDS = ("value", "method", "pairs", "loss_barrier_test_mean", "loss_barrier_test_std",
                  "error_barrier_test_mean", "error_barrier_test_std", "average_test_acc", "endpoint_test_acc_mean")


def sweep_params(dataset: str, arch: str, depth: int, axis: str, values: list, seeds: int, methods: list[str],
                 train: dict, width: int = 64, norm: str = "none", points: int = 25) -> dict:
    """Validated, JSON-ready parameters of a sweep (what the job and the registry store)."""
    if axis not in SWEEP_AXES:
        raise UserError(f"--sweep axis must be one of {', '.join(SWEEP_AXES)}, got {axis!r}")
    if not values:
        raise UserError("the sweep names no value")
    try:
        values = [SWEEP_AXES[axis](v) for v in values]
    except ValueError:
        raise UserError(f"--sweep {axis}: cannot read {values} as {SWEEP_AXES[axis].__name__}") from None
    if axis == "optimizer" and any(v not in OPTIMIZERS for v in values):
        raise UserError(f"--sweep optimizer takes {', '.join(OPTIMIZERS)}")
    if axis in ("width", "depth", "batch_size", "epochs") and any(v <= 0 for v in values):
        raise UserError(f"--sweep {axis} values must be positive, got {values}")
    if seeds < 2:
        raise UserError(f"--seeds must be at least 2 for barriers between seeds, got {seeds}")
    bad = [m for m in methods if m not in CURVE_METHODS]
    if bad or not methods:
        raise UserError(f"--methods takes a comma list of {', '.join(CURVE_METHODS)}")
    return {"dataset": dataset, "arch": arch, "depth": depth, "norm": norm, "width": width, "axis": axis,
            "values": values, "seeds": seeds, "methods": list(methods), "train": train, "points": points}


def request_for(params: dict, value, device: str) -> TrainRequest:
    model = {"arch": params["arch"], "width": params["width"], "depth": params["depth"], "norm": params["norm"]}
    train = dict(params["train"])
    axis = params["axis"]
    if axis in model:
        model[axis] = value
    else:
        train[axis] = value
    if axis == "optimizer" and "lr" not in params["train"]:
        train["lr"] = 1e-3 if value == "adam" else 0.05
    return TrainRequest(DataConfig(params["dataset"]), train=TrainConfig(**train), seeds=tuple(range(params["seeds"])),
                        device=device, **model)


def create_sweep(registry: Registry, params: dict) -> dict:
    return registry.insert("sweeps", {"status": "queued", "params": params, "rows": [], "summary": []})


def run_sweep(registry: Registry, params: dict, device: str, should_stop: Callable[[], bool] | None = None,
              on_progress: Callable[[float, str], None] | None = None, sweep_id: str | None = None) -> dict:
    """Train (or reuse), interpolate every seed pair by each method, average; store the sweep."""
    report = on_progress or (lambda fraction, message: None)
    for value in params["values"]:  # refuse bad input before any work
        prepare_training(registry, request_for(params, value, device))
    sweep_id = sweep_id or params.get("sweep_id") or create_sweep(registry, params)["id"]
    registry.update("sweeps", sweep_id, {"status": "running", "started": now()})
    rows, summary = [], []
    try:
        for index, value in enumerate(params["values"]):
            report(index / len(params["values"]), f"{params['axis']}={value}: training")
            runs = _runs_for(registry, request_for(params, value, device), should_stop)
            report((index + 0.5) / len(params["values"]), f"{params['axis']}={value}: barriers")
            value_rows = _barrier_rows(registry, params, value, runs, device)
            rows += value_rows
            summary += _summarize(registry, params, value, runs, value_rows, device)
            registry.update("sweeps", sweep_id, {"rows": rows, "summary": summary})
    except BaseException as err:
        registry.update("sweeps", sweep_id, {"status": "failed", "error": f"{type(err).__name__}: {err}",
                                             "finished": now()})
        raise
    registry.update("sweeps", sweep_id, {"status": "done", "finished": now()})
    report(1.0, "done")
    return {"sweep": sweep_id, "rows": rows, "summary": summary}


def _runs_for(registry: Registry, request: TrainRequest, should_stop) -> list[dict]:
    """One finished run per seed with exactly this config: reused if stored, else trained."""
    prepared = prepare_training(registry, request)
    wanted = {seed: _canonical({"data": _data_dict(request.data), "model": prepared.model.to_dict(),
                                "train": seed_config(request, seed).to_dict(), "init_from": None})
              for seed in request.seeds}
    found = {}
    for doc in registry.all("runs"):
        if doc.get("kind") == "trained" and doc.get("status") == "done":
            for seed, config in wanted.items():
                if seed not in found and _canonical(doc.get("config")) == config:
                    found[seed] = doc
    missing = tuple(s for s in request.seeds if s not in found)
    if missing:
        for run in train_runs(registry, replace(request, seeds=missing), should_stop=should_stop):
            if run["status"] != "done":
                raise RuntimeError(f"run {run['id']} {run['status']}: {run.get('error')}")
            found[run["seed"]] = registry.get("runs", run["id"])
    return [found[s] for s in request.seeds]


def _canonical(config) -> str:
    return json.dumps(config, sort_keys=True, default=list)


def _barrier_rows(registry, params, value, runs, device) -> list[dict]:
    rows = []
    options = InterpolationOptions(points=params.get("points", 25))
    for a, b in itertools.combinations(runs, 2):
        for curve in science.interp(registry, a["id"], b["id"], params["methods"], options, device=device):
            rows.append({"value": value, "width": curve["width"], **{k: curve[k] for k in ROW_FIELDS[1:]}})
    return rows


def _summarize(registry, params, value, runs, value_rows, device) -> list[dict]:
    endpoint_acc = statistics.fmean(r["test_acc"] for r in runs)
    out = []
    for method in params["methods"]:
        rows = [r for r in value_rows if r["method"] == method]
        averaged = science.average(registry, [r["id"] for r in runs], method, device=device, register=False)
        entry = {"value": value, "method": method, "pairs": len(rows), "average_test_acc": averaged["test_acc"],
                 "endpoint_test_acc_mean": endpoint_acc}
        for key in ("loss_barrier_test", "error_barrier_test", "loss_barrier_train", "error_barrier_train"):
            values = [r[key] for r in rows]
            entry[f"{key}_mean"] = statistics.fmean(values)
            entry[f"{key}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        out.append(entry)
    return out
