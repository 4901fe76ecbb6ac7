"""Taking up the runs of a job's earlier attempt, from their newest resume state that verifies.

A job that runs again (re-queued after it was cancelled, interrupted or failed, here or on
Slurm) trains the same seeds: the runs its earlier attempt made are taken up under the same
ids rather than made anew. A finished run is kept as it is; the others continue from the
newest epoch at which every run of the stack has a resume state whose sha256 matches the
registry's, or start again from scratch, saying why (`Resumed`). A run remembers each time
it was taken up (`resumes`, `resumed_from_epoch`).

A resume state is one safetensors file per run and epoch (`checkpoints/resume_<epoch>.safetensors`):
the model under `model/`, the optimizer's tensors under `optimizer/<parameter>/<key>`, the
data-order generator's state, and the rest (schedule, param groups, history) as JSON in a
`meta` byte tensor, so that it is written, sha256-checked and read like any weights file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from lmctui.core.training import EpochEnd, TrainState
from lmctui.errors import UserError
from lmctui.store import Registry
from lmctui.store.atomic_files import write_atomic
from lmctui.store.registry import now
from lmctui.store.runfiles import METRICS, load_weights, read_metrics

RESUME_FORMAT = "lmctui-resume-1"


@dataclass(frozen=True)
class Resumed:
    """An event: a run that an earlier attempt of its job made trains again."""

    epoch: int  # the epoch it continues after; 0 and no step: from scratch
    why: str = ""  # why from scratch
    step: int = 0  # batches of the next epoch already done (a state written when training was stopped)

    def text(self) -> str:
        if not (self.epoch or self.step):
            return f"from scratch ({self.why})"
        return f"resumed from epoch {self.epoch}" + (f", batch {self.step}" if self.step else "")


def resume_note(events: dict[str, Resumed]) -> str:
    """One line for a job's message: how its runs were taken up ('' when none was)."""
    groups: dict[str, list[str]] = {}
    for run_id, event in events.items():
        groups.setdefault(event.text(), []).append(run_id)
    if len(groups) <= 1:
        return next(iter(groups), "")
    return "; ".join(f"{text}: {', '.join(ids)}" for text, ids in groups.items())


def resume_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"resume_{epoch}.safetensors"


def resume_tensors(state: TrainState) -> dict[str, torch.Tensor]:
    """`state` as the flat tensors of one safetensors file."""
    meta = {"format": RESUME_FORMAT, "epoch": state.epoch, "optimizer_groups": state.optimizer_groups,
            "scheduler": state.scheduler, "history": [e.to_dict() for e in state.history],
            "step": state.step, "running": list(state.running)}
    tensors = {f"model/{k}": v for k, v in state.model.items()}
    tensors |= {f"optimizer/{name}/{key}": v for name, per_param in state.optimizer.items()
                for key, v in per_param.items()}
    raw = bytearray(json.dumps(meta).encode())  # json keeps NaN (a diverged seed of a stack) and exact floats
    return {**tensors, "data_order": state.data_order, "meta": torch.frombuffer(raw, dtype=torch.uint8)}


def load_state(path: Path, sha256: str) -> TrainState:
    """The resume state in `path`, refused (UserError) if its sha256 differs or it is not one."""
    tensors = load_weights(path, sha256)
    if "meta" not in tensors:
        raise UserError(f"{path} is not a resume state")
    meta = json.loads(tensors.pop("meta").numpy().tobytes())
    if meta.get("format") != RESUME_FORMAT:
        raise UserError(f"{path} is not a resume state of this version ({meta.get('format')})")
    optimizer: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            name, _, part = key.removeprefix("optimizer/").rpartition("/")
            optimizer.setdefault(name, {})[part] = value
    model = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    return TrainState(meta["epoch"], model, optimizer, meta["optimizer_groups"], meta["scheduler"],
                      tensors["data_order"], [EpochEnd(**e) for e in meta["history"]], int(meta.get("step", 0)),
                      tuple(meta.get("running", (0.0, 0.0))))


def earlier_runs(registry: Registry, job: str | None, seeds, configs: dict[int, dict] | None = None
                 ) -> dict[int, dict]:
    """seed -> the newest trained run that an earlier attempt of `job` made for it ({} when a seed
    is named twice: its runs cannot be told apart). With `configs` (seed -> stored config), only a
    run of that very config: a sweep's job trains the same seeds at several values."""
    if job is None or len(set(seeds)) != len(seeds):
        return {}
    found = {}
    for doc in sorted(registry.all("runs"), key=lambda d: d.get("created") or ""):
        if doc.get("job") == job and doc.get("kind") == "trained" and doc.get("seed") in seeds and \
                (configs is None or _canonical(registry.run_config(doc["id"])) == _canonical(configs[doc["seed"]])):
            found[doc["seed"]] = doc
    return found


def newest_states(registry: Registry, docs: list[dict]) -> list[TrainState] | None:
    """One state per run, all after the newest epoch at which every run's state verifies; None if none does."""
    sums = [{int(e): s for e, s in (doc.get("resume_sha256") or {}).items()} for doc in docs]
    for epoch in sorted(set.intersection(*(set(s) for s in sums)), reverse=True):
        try:
            states = [load_state(resume_path(registry.run_dir(doc["id"]), epoch), s[epoch])
                      for doc, s in zip(docs, sums)]
        except (UserError, OSError):  # missing, damaged or not a resume state: the one before may do
            continue
        if all((state.epoch, state.step) == (epoch, states[0].step) for state in states):
            return states
    return None


def finished_earlier(earlier: dict[int, dict], seeds) -> list[dict] | None:
    """The runs of these seeds if an earlier attempt finished every one of them, else None."""
    if earlier and set(earlier) == set(seeds) and all(doc["status"] == "done" for doc in earlier.values()):
        return [earlier[seed] for seed in seeds]
    return None


def take_up(registry: Registry, earlier: dict[int, dict], job: str | None, configs: dict[int, dict],
            where: dict) -> tuple[dict[int, dict], list[TrainState] | None, dict[str, Resumed]]:
    """Make `earlier` (seed -> a run an earlier attempt of `job` made) train again, for these seeds
    (seed -> stored config).

    Returns those runs (seed -> document, now running again), the states to resume them from
    (one per seed, in the order of `configs`; None: from scratch) and the event of each run.
    A run whose config or path differs from this attempt's (another device, say) starts again:
    continuing it would make a run that no single path explains.
    """
    if not earlier:
        return {}, None, {}
    changed = [s for s, doc in earlier.items()
               if _canonical(registry.run_config(doc["id"])) != _canonical(configs[s])]
    states = newest_states(registry, [earlier[s] for s in configs]) \
        if not changed and len(earlier) == len(configs) else None
    epoch, step = (states[0].epoch, states[0].step) if states else (0, 0)
    why = "" if states else "its config or path changed" if changed else "no valid checkpoint"
    registry.update_many("runs", {doc["id"]: _again(doc, configs[seed], epoch, why, job, where, bool(states))
                                  for seed, doc in earlier.items()})
    for doc in earlier.values():
        _forget_after(registry.run_dir(doc["id"]), doc, epoch, bool(states))
    return ({seed: registry.get("runs", doc["id"]) for seed, doc in earlier.items()}, states,
            {doc["id"]: Resumed(epoch, why, step) for doc in earlier.values()})


def _again(doc: dict, config: dict, epoch: int, why: str, job: str, where: dict, resumed: bool) -> dict:
    """The fields of a run taken up after `epoch` epochs: running, its checkpoints after that forgotten."""
    def upto(sums):
        return {e: s for e, s in (sums or {}).items() if int(e) <= epoch}

    kept = upto(doc.get("checkpoint_sha256"))
    resumed = {"epoch": epoch, "job": job, "at": now(), **({"why": why} if why else {})}
    return {**where, "status": "running", "error": None, "finished": None, "config": config, "epochs_done": epoch,
            "checkpoints": sorted(int(e) for e in kept), "checkpoint_sha256": kept,
            "resume_sha256": upto(doc.get("resume_sha256")) if resumed else {}, "resumed_from_epoch": epoch,
            "resumes": [*(doc.get("resumes") or []), resumed]}


def _forget_after(run_dir: Path, doc: dict, epoch: int, resumed: bool) -> None:
    """Drop the metrics rows and resume files of the epochs after `epoch`: training writes them again."""
    for e in (doc.get("resume_sha256") or {}):
        if int(e) > epoch or not resumed:
            resume_path(run_dir, int(e)).unlink(missing_ok=True)
    rows = [row for row in read_metrics(run_dir / METRICS) if row["epoch"] <= epoch]
    write_atomic(run_dir / METRICS, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode(),
                 durable=False)


def _canonical(config) -> str:
    return json.dumps(config, sort_keys=True, default=list)
