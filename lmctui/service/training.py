"""Use case: train one run per seed into the registry (and the demo registry)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from lmctui.core.data import DataConfig, Dataset, load_dataset
from lmctui.core.devices import resolve_device
from lmctui.core.models import ModelConfig
from lmctui.core.training import Cancelled, EpochEnd, TrainConfig, TrainResult, train
from lmctui.core.vectorized import can_vectorize, train_many
from lmctui.errors import UserError
from lmctui.parsing import parse_run_at_epoch
from lmctui.records import run_view
from lmctui.service.catalog import require_done
from lmctui.store import Registry
from lmctui.store.registry import HOST, now
from lmctui.store.runfiles import (CONFIG, METRICS, WEIGHTS, append_metrics, checkpoint_path,
                                   load_weights, read_metrics, save_weights, write_json)

EventSink = Callable[[str, object], None]  # (run_id, event)


@dataclass(frozen=True)
class TrainRequest:
    """What `lmctui-cli train` and the TUI's train form ask for: one run per seed."""

    data: DataConfig = field(default_factory=DataConfig)
    arch: str = "mlp"
    width: int = 64
    depth: int = 2
    norm: str = "none"
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: tuple[int, ...] = (0,)
    init_seed: int | None = None  # fixes the init seed for every run; else init = seed
    data_seed: int | None = None  # fixes the data-order seed for every run; else = seed
    init_from: str | None = None  # RUN or RUN@EPOCH: start from that checkpoint (spawning)
    device: str = "auto"
    tags: tuple[str, ...] = ()
    vectorize: bool = True  # train the seeds together (torch.func) when the model allows


@dataclass(frozen=True)
class PreparedTraining:
    data: Dataset  # on `device`
    model: ModelConfig
    device: torch.device
    initial_state: dict | None
    parent: str | None


def prepare_training(registry: Registry, request: TrainRequest) -> PreparedTraining:
    """Validate everything and load the data, before anything is written."""
    if not request.seeds:
        raise UserError("--seeds names no seed")
    request.train.validate()
    device = resolve_device(request.device)
    data = load_dataset(request.data)
    model = ModelConfig(request.arch, request.width, request.depth, request.norm,
                        data.input_shape, data.num_classes).validate()
    initial_state, parent = None, None
    if request.init_from:
        parent, initial_state = _spawn_source(registry, request.init_from, model)
    return PreparedTraining(data.to(device), model, device, initial_state, parent)


def train_runs(registry: Registry, request: TrainRequest, on_event: EventSink | None = None,
               should_stop: Callable[[], bool] | None = None) -> list[dict]:
    """Train one run per seed into the registry; return their records.

    Several seeds train as one vectorized computation unless `request.vectorize` is
    off or the model has BatchNorm. A run that fails is marked failed and the others
    still train. Ctrl-C marks the unfinished runs interrupted and propagates.
    """
    prepared = prepare_training(registry, request)
    configs = [seed_config(request, seed) for seed in request.seeds]
    if request.vectorize and len(configs) > 1 and can_vectorize(prepared.model):
        return _train_together(registry, request, prepared, configs, on_event, should_stop)
    return [_train_alone(registry, request, prepared, config, seed, on_event, should_stop)
            for config, seed in zip(configs, request.seeds)]


def seed_config(request: TrainRequest, seed: int) -> TrainConfig:
    return replace(request.train,
                   init_seed=seed if request.init_seed is None else request.init_seed,
                   data_seed=seed if request.data_seed is None else request.data_seed)


class _RunFiles:
    """One run being trained: its registry entry, its folder and its metrics sink."""

    def __init__(self, registry: Registry, doc: dict, on_event: EventSink | None):
        self.registry, self.id, self.dir, self.on_event = registry, doc["id"], registry.run_dir(doc["id"]), on_event
        write_json(self.dir / CONFIG, doc["config"])

    @classmethod
    def start(cls, registry, request, prepared, configs, seeds, on_event) -> list["_RunFiles"]:
        docs = registry.insert_many("runs", [_new_run_doc(request, prepared, c, s) for c, s in zip(configs, seeds)])
        return [cls(registry, doc, on_event) for doc in docs]

    def sink(self, event) -> None:
        if isinstance(event, EpochEnd):
            append_metrics(self.dir / METRICS, event.to_dict())
        if self.on_event is not None:
            self.on_event(self.id, event)

    def stopped(self, status: str, error: str | None = None) -> dict:
        return {**_progress_fields(self.dir), "status": status, "finished": now(), "error": error}

    def finished(self, result: TrainResult) -> dict:
        """Save the weights; return the registry fields of the finished (or diverged) run."""
        diverged = next((e.epoch for e in result.history if not math.isfinite(e.train_loss)), None)
        if diverged is not None:
            return self.stopped("failed", f"training diverged at epoch {diverged} (loss is not finite); lower --lr")
        for epoch, state in result.checkpoints.items():
            save_weights(checkpoint_path(self.dir, epoch), state)
        sha = save_weights(self.dir / WEIGHTS, result.state_dict)
        last = result.history[-1]
        return {"status": "done", "finished": now(), "weights_sha256": sha, "seconds": round(last.seconds, 3),
                "epochs_done": last.epoch, "train_loss": last.train_loss, "train_acc": last.train_acc,
                "test_loss": last.test_loss, "test_acc": last.test_acc, "checkpoints": sorted(result.checkpoints)}


def _record(registry: Registry, runs: list[_RunFiles], fields: list[dict]) -> list[dict]:
    """Write the runs' outcomes in one registry write; return their records."""
    registry.update_many("runs", {run.id: f for run, f in zip(runs, fields)})
    return [run_view(registry.get("runs", run.id)) for run in runs]


def _stop_status(stop: BaseException) -> str:
    return stop.status if isinstance(stop, Cancelled) else "interrupted"


def _train_alone(registry, request, prepared, config, seed, on_event, should_stop) -> dict:
    [run] = _RunFiles.start(registry, request, prepared, [config], [seed], on_event)
    try:
        result = train(prepared.model, config, prepared.data, prepared.device,
                       prepared.initial_state, run.sink, should_stop)
    except (KeyboardInterrupt, Cancelled) as stop:
        _record(registry, [run], [run.stopped(_stop_status(stop))])
        raise
    except Exception as err:  # a failed run must never take its siblings down
        return _record(registry, [run], [run.stopped("failed", f"{type(err).__name__}: {err}")])[0]
    return _record(registry, [run], [run.finished(result)])[0]


def _train_together(registry, request, prepared, configs, on_event, should_stop) -> list[dict]:
    runs = _RunFiles.start(registry, request, prepared, configs, request.seeds, on_event)
    try:
        results = train_many(prepared.model, configs, prepared.data, prepared.device, prepared.initial_state,
                             lambda index, event: runs[index].sink(event), should_stop)
    except (KeyboardInterrupt, Cancelled) as stop:
        _record(registry, runs, [run.stopped(_stop_status(stop)) for run in runs])
        raise
    except Exception as err:
        return _record(registry, runs, [run.stopped("failed", f"{type(err).__name__}: {err}") for run in runs])
    return _record(registry, runs, [run.finished(result) for run, result in zip(runs, results)])


def _new_run_doc(request: TrainRequest, prepared: PreparedTraining, config: TrainConfig, seed: int) -> dict:
    model = prepared.model
    return {
        "kind": "trained", "status": "running", "started": now(), "finished": None,
        "dataset": request.data.name, "arch": model.arch, "width": model.width,
        "depth": model.depth if model.arch == "mlp" else None, "norm": model.norm,
        "seed": seed, "init_seed": config.init_seed, "data_seed": config.data_seed,
        "optimizer": config.optimizer, "lr": config.lr, "batch_size": config.batch_size,
        "epochs": config.epochs, "epochs_done": 0, "tags": list(request.tags), "parent": prepared.parent,
        "device": str(prepared.device), "host": HOST, "pid": os.getpid(), "error": None,
        "train_loss": None, "train_acc": None, "test_loss": None, "test_acc": None,
        "config": {"data": _data_dict(request.data), "model": model.to_dict(), "train": config.to_dict(),
                   "init_from": request.init_from},
    }


def _data_dict(data: DataConfig) -> dict:
    return {"name": data.name, "n_samples": data.n_samples, "noise": data.noise, "data_dir": data.data_dir}


def _progress_fields(run_dir: Path) -> dict:
    """Summary of a run that stopped early, from its metrics file."""
    rows = read_metrics(run_dir / METRICS)
    if not rows:
        return {}
    last = rows[-1]
    return {"epochs_done": last["epoch"], **{k: last[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")}}


def _spawn_source(registry: Registry, spec: str, model: ModelConfig) -> tuple[str, dict]:
    prefix, epoch = parse_run_at_epoch(spec)
    parent = require_done(registry.resolve("runs", prefix))
    if ModelConfig.from_dict(parent["config"]["model"]) != model:
        raise UserError(f"--init-from {spec}: run {parent['id']} has a different model or data set")
    run_dir = registry.run_dir(parent["id"])
    if epoch is None:
        return parent["id"], load_weights(run_dir / WEIGHTS, parent.get("weights_sha256"))
    if epoch not in (parent.get("checkpoints") or []):
        kept = parent.get("checkpoints") or []
        raise UserError(f"--init-from {spec}: run {parent['id']} kept no checkpoint at epoch {epoch} "
                        f"(kept: {kept or 'none'}; train with --save-epochs)")
    return f"{parent['id']}@{epoch}", load_weights(checkpoint_path(run_dir, epoch))


# -- the demo registry -------------------------------------------------------------------

DEMO_REQUESTS = (
    TrainRequest(DataConfig("moons"), width=8, depth=1, seeds=(0, 1), train=TrainConfig(epochs=15), tags=("demo",)),
    TrainRequest(DataConfig("moons"), width=64, depth=1, seeds=(0, 1), train=TrainConfig(epochs=15), tags=("demo",)),
)


def ensure_demo(registry: Registry, on_event: EventSink | None = None) -> int:
    """Train a few toy networks into an empty registry, with the curves between seeds;
    return how many runs were made."""
    from lmctui.service.science import interp

    if registry.all("runs"):
        return 0
    made = 0
    for request in DEMO_REQUESTS:
        runs = train_runs(registry, replace(request, device="cpu"), on_event)
        interp(registry, runs[0]["id"], runs[1]["id"], ["naive", "weight"], device="cpu")
        made += len(runs)
    return made
