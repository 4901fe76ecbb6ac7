"""Use case: train one run per seed into the registry (and the demo registry).

Checkpoints are written as training goes: the weights at every `save_epochs` epoch, and a
resume state (model, optimizer, schedule, data order, history; `resume_<epoch>.safetensors`,
sha256 in the run's `resume_sha256`) at those epochs and at least every RESUME_SECONDS. A job
that runs again (re-queued after it was cancelled, interrupted or failed) takes up the runs
its earlier attempt made, from their newest resume state that verifies (see `resume.py`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from lmctui.core.data import Dataset, load_dataset
from lmctui.core.devices import resolve_device
from lmctui.core.models import build_model
from lmctui.core.training import Cancelled, EpochEnd, TrainResult, TrainState, train
from lmctui.core.vectorized import train_many, vectorize_refusal
from lmctui.configs import ModelConfig, TrainConfig
from lmctui.errors import UserError, WorkFailed
from lmctui.records import RunRecord, finite, run_view
from lmctui.service.checks import spawn_source
from lmctui.service.requests import TrainRequest
from lmctui.service.user_inputs import identified_data, identified_model, verified_spec
from lmctui.usermodel import say_once
from lmctui.service.resume import earlier_runs, finished_earlier, resume_path, resume_tensors, take_up
from lmctui.store import Registry
from lmctui.store.registry import HOST, now
from lmctui.store.runfiles import (CONFIG, METRICS, WEIGHTS, append_metrics, checkpoint_path,
                                   load_weights, read_metrics, save_weights, write_json)

RESUME_SECONDS = 30.0  # a resume state at least this often (and at every save_epochs epoch): what a kill costs
RESUME_KEPT = 2  # the newest resume states a run keeps: one to fall back on if the newest is damaged

EventSink = Callable[[str, object], None]  # (run_id, event)
StopCheck = Callable[[], "str | None"]  # None to go on, else the status the stopped work records


@dataclass(frozen=True)
class PreparedTraining:
    """A validated request with its data loaded: everything training needs, nothing written yet."""

    request: TrainRequest
    data: Dataset  # on `device`
    model: ModelConfig
    device: torch.device
    initial_state: dict | None
    parent: str | None
    one_at_a_time: str | None = None  # why seeds the request would train together cannot (a user model vmap refuses)

    @property
    def vectorized(self) -> bool:
        """Whether the seeds train as one vectorized computation."""
        return self.request.trains_together and self.one_at_a_time is None

    def stored_config(self, seed: int) -> dict:
        """What a run's record and config.json keep: enough to rebuild the run, and the path it took.

        Same config and seed give the same weights only along the same path: a CNN's
        weights drift apart macroscopically from a 1e-7 difference in float reassociation
        (vectorized or not, which seeds trained alongside, the device).
        """
        path = {"vectorized": self.vectorized, "device": str(self.device),
                "trained_with": list(self.request.seeds) if self.vectorized else [seed]}
        return {"data": self.request.data.to_dict(), "model": self.model.to_dict(),
                "train": self.request.seed_config(seed).to_dict(), "init_from": self.request.init_from,
                "path": path}


def prepare_training(registry: Registry, request: TrainRequest) -> PreparedTraining:
    """Validate everything and load the data, before anything is written."""
    request.validate()
    device = resolve_device(request.device)
    data = load_dataset(request.data)
    model = identified_model(request.model_config(data.input_shape, data.num_classes).validate(), registry.home)
    request = replace(request, data=identified_data(request.data), arch=model.arch)  # as the runs record them
    if model.user:
        build_model(model)  # a factory that raises or returns no module is refused before any run is made
        verified_spec(model)
    initial_state, parent = None, None
    if request.init_from:
        parent, initial_state = _spawn_source(registry, request)
    why = vectorize_refusal(model, data.x_train.dtype) if request.trains_together and model.user else None
    if why is not None:
        say_once(f"the seeds of {request.arch} train one at a time: {why}")
    return PreparedTraining(request, data.to(device), model, device, initial_state, parent, why)


def train_runs(registry: Registry, request: TrainRequest, on_event: EventSink | None = None,
               should_stop: StopCheck | None = None, prepared: PreparedTraining | None = None,
               job: str | None = None, same_config: bool = False) -> list[dict]:
    """Train one run per seed into the registry; return their records.

    Several seeds train as one vectorized computation unless `request.vectorize` is
    off or the model has BatchNorm. A run that fails is marked failed and the others
    still train. Ctrl-C marks the unfinished runs interrupted and propagates.

    The runs record `job`; when that job runs again, the runs its earlier attempt made are
    taken up (same ids): a finished one is kept, the others continue from their newest valid
    resume state, or from scratch without one (`on_event` hears a `Resumed` for each). With
    `same_config`, only a run of this very config is taken up (a sweep's job: several values).
    """
    prepared = prepared or prepare_training(registry, request)
    request = prepared.request  # the arch and data as the runs record them
    configs = [request.seed_config(seed) for seed in request.seeds]
    if prepared.vectorized:
        return _train_together(registry, prepared, configs, on_event, should_stop, job, same_config)
    return [_train_together(registry, replace(prepared, request=replace(request, seeds=(seed,))), [config],
                            on_event, should_stop, job, same_config)[0]
            for config, seed in zip(configs, request.seeds)]


class _RunFiles:
    """One run being trained: its registry entry, its folder, its metrics sink and its checkpoints."""

    def __init__(self, registry: Registry, doc: dict, on_event: EventSink | None):
        self.registry, self.id, self.dir, self.on_event = registry, doc["id"], registry.run_dir(doc["id"]), on_event
        self.kept = {int(e): sha for e, sha in (doc.get("checkpoint_sha256") or {}).items()}  # weights at save_epochs
        self.resume = {int(e): sha for e, sha in (doc.get("resume_sha256") or {}).items()}
        write_json(self.dir / CONFIG, doc["config"])

    @classmethod
    def start(cls, registry: Registry, prepared: PreparedTraining, on_event, job: str | None,
              earlier: dict[int, dict]) -> tuple[list["_RunFiles"], list[TrainState] | None]:
        """The runs of these seeds (`earlier`'s taken up, new ones made) and the states to resume them from."""
        where = {"device": str(prepared.device), "host": HOST, "pid": os.getpid()}
        configs = [(seed, prepared.stored_config(seed)) for seed in prepared.request.seeds]
        earlier, resume, events = take_up(registry, earlier, job, dict(configs), where)
        new = [{**RunRecord.trained(config, seed, prepared.request.tags, prepared.parent, **where,
                                    started=now()).to_doc(), "job": job, "resume_sha256": {}}
               for seed, config in configs if seed not in earlier]
        try:
            made = iter(registry.insert_many("runs", new) if new else [])
        except OSError as err:  # no run recorded: its folder (config first) could not be made
            raise WorkFailed(f"cannot write a run's folder in {registry.home / 'runs'}: {err.strerror}") from None
        docs = [earlier.get(seed) or next(made) for seed, _ in configs]
        try:
            runs = [cls(registry, doc, on_event) for doc in docs]
        except OSError as err:  # a full disk, a read-only home: the runs say so, never stay running
            why = f"cannot write the run's folder {registry.run_dir(docs[0]['id'])}: {err.strerror}"
            registry.update_many("runs", {d["id"]: {"status": "failed", "finished": now(), "error": why} for d in docs})
            raise WorkFailed(why) from None
        for run in runs:
            if run.id in events:
                run.sink(events[run.id])
        return runs, resume

    def sink(self, event) -> None:
        if isinstance(event, EpochEnd):
            append_metrics(self.dir / METRICS, finite(event.to_dict()))
        if self.on_event is not None:
            self.on_event(self.id, event)

    def stopped(self, status: str, error: str | None = None) -> dict:
        return {**_progress_fields(self.dir), "status": status, "finished": now(), "error": error}

    def checkpoint(self, state: TrainState, weights: bool, resume: bool) -> list[Path]:
        """Write this run's checkpoints of `state`; return the resume files no longer kept."""
        if weights and state.finite:  # a diverged run keeps no weights after its loss stopped being finite
            self.kept[state.epoch] = save_weights(checkpoint_path(self.dir, state.epoch), state.model)
        if not resume:
            return []
        self.resume[state.epoch] = save_weights(resume_path(self.dir, state.epoch), resume_tensors(state))
        dropped = sorted(self.resume)[:-RESUME_KEPT]
        for epoch in dropped:
            del self.resume[epoch]
        return [resume_path(self.dir, epoch) for epoch in dropped]

    def checkpoint_fields(self) -> dict:
        return {"checkpoints": sorted(self.kept), "checkpoint_sha256": {str(e): s for e, s in self.kept.items()},
                "resume_sha256": {str(e): s for e, s in self.resume.items()}}

    def finished(self, result: TrainResult) -> dict:
        """Save the weights; return the registry fields of the finished or diverged run.

        A diverged run keeps the checkpoints taken before its loss stopped being finite.
        """
        diverged = next((e.epoch for e in result.history if not math.isfinite(e.train_loss)), None)
        if diverged is not None:
            note = f"; checkpoints kept: {sorted(self.kept)}" if self.kept else ""
            return self.stopped("failed", f"training diverged at epoch {diverged} (loss is not finite); "
                                          f"lower the learning rate{note}")
        last = result.history[-1]
        return {"status": "done", "finished": now(), "weights_sha256": save_weights(self.dir / WEIGHTS, result.state_dict),
                "seconds": round(last.seconds, 3), "epochs_done": last.epoch, "train_loss": result.train_loss,
                "train_acc": result.train_acc, "train_loss_running": result.train_loss_running,
                "train_acc_running": result.train_acc_running, "test_loss": last.test_loss,
                "test_acc": last.test_acc, "resume_sha256": {}}

    def drop_resume_states(self) -> None:
        """A finished run needs no resume states (they hold the optimizer too: twice the weights or more)."""
        for epoch in self.resume:
            resume_path(self.dir, epoch).unlink(missing_ok=True)


class _Checkpoints:
    """Writes the checkpoints of the runs training together as training offers them (a core `Checkpointer`)."""

    def __init__(self, registry: Registry, runs: list[_RunFiles], config: TrainConfig):
        self.registry, self.runs, self.config = registry, runs, config
        self.last = time.monotonic()

    def __call__(self, epoch: int, capture: Callable[[], list[TrainState]]) -> None:
        weights = epoch in self.config.save_epochs
        resume = 0 < epoch < self.config.epochs and (weights or time.monotonic() - self.last >= RESUME_SECONDS)
        if not (weights or resume):
            return
        dropped = [path for run, state in zip(self.runs, capture()) for path in run.checkpoint(state, weights, resume)]
        self.registry.update_many("runs", {run.id: run.checkpoint_fields() for run in self.runs})
        for path in dropped:  # only once the registry no longer names them
            path.unlink(missing_ok=True)
        if resume:
            self.last = time.monotonic()

    def at_stop(self, capture: Callable[[], list[TrainState]]) -> None:
        """Training was told to stop between two batches: keep a resume state of that very batch,
        so that the job run again loses nothing."""
        for run, state in zip(self.runs, capture()):
            run.checkpoint(state, weights=False, resume=True)
        self.registry.update_many("runs", {run.id: run.checkpoint_fields() for run in self.runs})


def _train_together(registry: Registry, prepared: PreparedTraining, configs: list[TrainConfig], on_event,
                    should_stop, job: str | None = None, same_config: bool = False) -> list[dict]:
    """Train the prepared seeds (one, or several as one vectorized computation)."""
    seeds = prepared.request.seeds
    earlier = earlier_runs(registry, job, seeds, {s: prepared.stored_config(s) for s in seeds} if same_config else None)
    done = finished_earlier(earlier, prepared.request.seeds)
    if done is not None:
        return [run_view(doc) for doc in done]
    runs, resume = _RunFiles.start(registry, prepared, on_event, job, earlier)
    keep = _Checkpoints(registry, runs, configs[0])
    try:
        if len(runs) == 1:
            results = [train(prepared.model, configs[0], prepared.data, prepared.device, prepared.initial_state,
                             runs[0].sink, should_stop, resume[0] if resume else None, keep)]
        else:
            results = train_many(prepared.model, configs, prepared.data, prepared.device, prepared.initial_state,
                                 lambda index, event: runs[index].sink(event), should_stop, resume, keep)
    except (KeyboardInterrupt, Cancelled) as stop:
        status = stop.status if isinstance(stop, Cancelled) else "interrupted"
        if getattr(stop, "capture", None) is not None:
            try:
                keep.at_stop(stop.capture)
            except (OSError, UserError):  # recording the stop matters more than the state to resume from
                pass
        _record(registry, runs, [run.stopped(status) for run in runs])
        raise
    except Exception as err:  # a failed run must never take its siblings down
        return _record(registry, runs, [run.stopped("failed", f"{type(err).__name__}: {err}") for run in runs])
    try:
        outcomes = [run.finished(result) for run, result in zip(runs, results)]
    except OSError as err:  # a full disk, a read-only folder: the runs say so, never stay running
        outcomes = [run.stopped("failed", f"cannot write the run's weights in {run.dir}: {err.strerror}")
                    for run in runs]
    records = _record(registry, runs, outcomes)
    for run, record in zip(runs, records):
        if record["status"] == "done":
            run.drop_resume_states()
    return records


def _record(registry: Registry, runs: list[_RunFiles], fields: list[dict]) -> list[dict]:
    """Write the runs' outcomes in one registry write; return their records."""
    registry.update_many("runs", {run.id: finite(f) for run, f in zip(runs, fields)})
    return [run_view(registry.get("runs", run.id)) for run in runs]


def _progress_fields(run_dir: Path) -> dict:
    """Summary of a run that stopped early, from its metrics file."""
    rows = read_metrics(run_dir / METRICS)
    if not rows:
        return {}
    last = rows[-1]
    return {"epochs_done": last["epoch"], "train_loss_running": last["train_loss"],
            "train_acc_running": last["train_acc"], "test_loss": last["test_loss"], "test_acc": last["test_acc"]}


def _spawn_source(registry: Registry, request: TrainRequest) -> tuple[str, dict]:
    """The name and weights of the run (or checkpoint) `init_from` names, checked as a submission is."""
    parent, epoch = spawn_source(registry, request)
    run_dir = registry.run_dir(parent["id"])
    if epoch is None:
        return parent["id"], load_weights(run_dir / WEIGHTS, parent.get("weights_sha256"))
    expected = (parent.get("checkpoint_sha256") or {}).get(str(epoch))
    return f"{parent['id']}@{epoch}", load_weights(checkpoint_path(run_dir, epoch), expected)


# -- the demo registry -------------------------------------------------------------------

DEMO_REQUESTS = (
    TrainRequest(width=8, depth=1, seeds=(0, 1), train=TrainConfig(epochs=15), tags=("demo",), device="cpu"),
    TrainRequest(width=64, depth=1, seeds=(0, 1), train=TrainConfig(epochs=15), tags=("demo",), device="cpu"),
)


def ensure_demo(registry: Registry, on_event: EventSink | None = None,
                on_step: Callable[[str], None] | None = None) -> int:
    """Train a few toy networks into an empty registry, with the curves between seeds;
    return how many trained runs were made (`on_step` hears each step as it starts)."""
    from lmctui.service.requests import InterpRequest
    from lmctui.service.science import interp

    if registry.all("runs"):
        return 0
    say = on_step or (lambda text: None)
    made = 0
    for request in DEMO_REQUESTS:
        say(f"training {request.title()} ({request.train.epochs} epochs)")
        runs = train_runs(registry, request, on_event)
        say(f"interpolating {runs[0]['id']} and {runs[1]['id']} (naive and weight-matched)")
        interp(registry, InterpRequest(runs[0]["id"], runs[1]["id"], device="cpu"))
        made += len(runs)
    return made
