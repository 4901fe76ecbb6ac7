"""Jobs as use cases: how each job kind's parameters become a service call.

`execute` is what the worker threads (TUI) and `lmctui-cli worker` run for a job.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable

from lmctui.core.data import DataConfig
from lmctui.core.interpolation import InterpolationOptions
from lmctui.core.training import EpochEnd, TrainConfig
from lmctui.errors import UserError
from lmctui.service.training import TrainRequest, train_runs
from lmctui.store import Registry


def train_request_to_params(request: TrainRequest) -> dict:
    params = asdict(request)
    params["train"] = request.train.to_dict()
    return params


def train_request_from_params(params: dict) -> TrainRequest:
    fields = dict(params)
    fields["data"] = DataConfig(**fields["data"])
    train = dict(fields["train"])
    train["save_epochs"] = tuple(train.get("save_epochs") or ())
    fields["train"] = TrainConfig(**train)
    fields["seeds"] = tuple(fields["seeds"])
    fields["tags"] = tuple(fields.get("tags") or ())
    return TrainRequest(**fields)


def execute(registry: Registry, job: dict, should_stop: Callable[[], bool],
            on_progress: Callable[[float, str], None]) -> dict:
    """Run one job on the device the worker gave it; return its result for the registry."""
    params, device = job["params"], job.get("device_used") or job.get("device") or "auto"
    kind = job["kind"]
    if kind == "train":
        return _train(registry, params, device, should_stop, on_progress)
    from lmctui.service import science

    if kind == "align":
        return science.align(registry, params["run_a"], params["run_b"], params.get("method", "weight"),
                             params.get("seed", 0), device)
    if kind == "interp":
        options = InterpolationOptions(params.get("points", 25), params.get("reset_bn", True), params.get("repair", False))
        methods = params.get("methods", ["naive", "weight"])

        def report(method, done, total):
            on_progress((methods.index(method) + done / total) / len(methods), f"{method}: {done}/{total} points")

        curves = science.interp(registry, params["run_a"], params["run_b"], methods, options,
                                params.get("seed", 0), device, on_progress=report)
        return {"curves": [c["id"] for c in curves]}
    if kind == "average":
        result = science.average(registry, params["runs"], params.get("method", "weight"), params.get("reference"),
                                 params.get("seed", 0), device)
        return {"average": result["id"], "test_acc": result["test_acc"]}
    if kind == "sweep":
        from lmctui.service.sweeps import run_sweep

        return run_sweep(registry, params, device, should_stop, on_progress)
    raise UserError(f"unknown job kind {kind!r}")


def _train(registry, params, device, should_stop, on_progress) -> dict:
    request = train_request_from_params({**params, "device": device})
    total = request.train.epochs * len(request.seeds)
    done = set()

    def on_event(run_id, event):
        if isinstance(event, EpochEnd):
            done.add((run_id, event.epoch))
            on_progress(len(done) / total, f"epoch {event.epoch}/{event.epochs}, test acc {event.test_acc:.3f}")

    runs = train_runs(registry, request, on_event, should_stop)
    failed = [r for r in runs if r["status"] != "done"]
    if failed:
        raise RuntimeError("; ".join(f"run {r['id']}: {r.get('error')}" for r in failed))
    return {"runs": [r["id"] for r in runs]}
