"""The flat views of registry documents that tables, JSON output and CSV export share.

No torch, no UI: the TUI imports this at start-up.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Iterable

from lmctui.choices import DEPTH_ARCHS
from lmctui.errors import FieldError
from lmctui.export_files import export_target, write_export
from lmctui.parsing import matches_value

RUN_FIELDS = (
    "id", "kind", "dataset", "arch", "width", "depth", "norm", "seed", "init_seed", "data_seed",
    "optimizer", "lr", "batch_size", "epochs", "status", "epochs_done", "train_loss", "train_acc",
    "test_loss", "test_acc", "seconds", "device", "parent", "tags", "created", "finished", "error",
    "train_loss_running", "train_acc_running", "resumed_from_epoch",
)
# What a table of runs shows first, in the CLI and the app: (field, short label).
RUN_COLUMNS = (("id", "id"), ("kind", "kind"), ("dataset", "data"), ("arch", "arch"), ("width", "width"),
               ("depth", "depth"), ("seed", "seed"), ("optimizer", "opt"), ("lr", "lr"), ("epochs", "epochs"),
               ("status", "status"), ("test_acc", "test acc"), ("test_loss", "test loss"), ("tags", "tags"))


@dataclass
class RunRecord:
    """A run as the registry stores it: the one place that says what a run document holds.

    `trained` builds the record of a run about to train; `derived` the record of a
    network made from others (aligned, averaged). `to_doc` is what gets stored.
    """

    kind: str  # trained | aligned | averaged
    dataset: str
    arch: str
    width: int
    depth: int | None  # MLPs only
    norm: str
    config: dict  # {"data", "model", "train", "init_from"}: enough to rebuild the run
    seed: int | None = None
    init_seed: int | None = None
    data_seed: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    status: str = "running"
    epochs_done: int = 0
    train_loss: float | None = None  # evaluated at the end: eval mode, the whole train set (as curves)
    train_acc: float | None = None
    train_loss_running: float | None = None  # the last epoch's mean over its batches, in train mode
    train_acc_running: float | None = None
    test_loss: float | None = None
    test_acc: float | None = None
    seconds: float | None = None
    device: str | None = None
    host: str | None = None
    pid: int | None = None
    parent: str | None = None
    tags: list = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    weights_sha256: str | None = None
    checkpoints: list = field(default_factory=list)
    checkpoint_sha256: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # kind-specific: aligned_to, align_method, average_method

    @classmethod
    def trained(cls, config: dict, seed: int, tags=(), parent: str | None = None, **where) -> "RunRecord":
        """A run about to train, from its stored config {"data", "model", "train", "init_from"}."""
        model, train = config["model"], config["train"]
        return cls(kind="trained", dataset=config["data"]["name"], arch=model["arch"], width=model["width"],
                   depth=model["depth"] if model["arch"] in DEPTH_ARCHS else None, norm=model["norm"], config=config,
                   seed=seed, init_seed=train["init_seed"], data_seed=train["data_seed"],
                   optimizer=train["optimizer"], lr=train["lr"], batch_size=train["batch_size"],
                   epochs=train["epochs"], tags=list(tags), parent=parent, **where)

    @classmethod
    def from_doc(cls, doc: dict) -> "RunRecord":
        names = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in doc.items() if k in names},
                   extra={k: v for k, v in doc.items() if k not in names and k not in ("id", "created", "schema")})

    def derived(self, kind: str, parent: str, **extra) -> "RunRecord":
        """A network made from this run's architecture (aligned or averaged), not trained."""
        seeds = {} if kind == "aligned" else {"seed": None, "init_seed": None, "data_seed": None}
        return replace(self, kind=kind, parent=parent, status="running", error=None, weights_sha256=None,
                       checkpoints=[], checkpoint_sha256={}, started=None,
                       finished=None, extra=extra, **seeds)

    def to_doc(self) -> dict:
        doc = asdict(self)
        return {**doc.pop("extra"), **doc}


CURVE_FIELDS = (
    "id", "run_a", "run_b", "method", "alignment", "dataset", "arch", "width", "depth", "norm",
    "optimizer", "lr", "batch_size", "epochs", "seed_a", "seed_b", "points", "repair", "reset_bn",
    "loss_barrier_train", "loss_barrier_test", "error_barrier_train", "error_barrier_test",
    "mid_loss_train", "mid_loss_test", "mid_acc_train", "mid_acc_test", "created",
    "loss_barrier_test_refined", "loss_barrier_test_alpha", "error_barrier_test_refined", "error_barrier_test_alpha",
    "split",
)
CURVE_SERIES = ("alpha", "train_loss", "test_loss", "train_acc", "test_acc")
# `export curves`: one row per (curve, alpha), long format. `seed`, `restarts`, `ste`: the matching's settings.
CURVE_POINT_FIELDS = (
    "curve", "run_a", "run_b", "method", "seed", "restarts", "ste", "points", "split", "repair", "reset_bn",
    "dataset", "arch", "width", "depth", "norm", "optimizer", "lr", "batch_size", "epochs", "seed_a", "seed_b",
    *CURVE_SERIES, "loss_barrier_train", "loss_barrier_test", "error_barrier_train", "error_barrier_test",
    "loss_barrier_test_refined", "error_barrier_test_refined", "created",
)
SWEEP_ROW_FIELDS = ("value", "method", "run_a", "run_b", "loss_barrier_test", "error_barrier_test",
                    "loss_barrier_train", "error_barrier_train")
SWEEP_SUMMARY_FIELDS = ("value", "method", "pairs", "loss_barrier_test_mean", "loss_barrier_test_std",
                        "error_barrier_test_mean", "error_barrier_test_std", "average_test_acc",
                        "endpoint_test_acc_mean")
ALIGNMENT_FIELDS = ("id", "run_a", "run_b", "method", "seed", "aligned_run", "iterations", "objective",
                    "solves", "seconds", "created", "restarts", "restart_objectives", "best_restart", "ste",
                    "midpoint_loss", "identity_loss", "first_loss", "best_step")
AVERAGE_FIELDS = ("id", "method", "runs", "reference", "averaged_run", "rounds", "train_loss", "train_acc",
                  "test_loss", "test_acc", "endpoints", "ensemble", "seconds", "created", "restarts", "repair")


SWEEP_FIELDS = ("id", "status", "axis", "values", "seeds", "methods", "rows", "created", "finished", "error")


@dataclass(frozen=True)
class Listing:
    """How `lmctui-cli list WHAT` shows one table: its fields, the columns a terminal table
    shows by default, and which of those go first when the terminal is narrow."""

    fields: tuple[str, ...]
    columns: tuple[str, ...]
    drop: tuple[str, ...] = ()


LISTINGS = {
    "runs": Listing(RUN_FIELDS, tuple(k for k, _ in RUN_COLUMNS),
                    ("tags", "kind", "depth", "epochs", "optimizer", "lr", "arch", "dataset", "seed", "test_loss",
                     "width")),
    "curves": Listing(CURVE_FIELDS, ("id", "run_a", "run_b", "method", "dataset", "width", "repair", "points",
                                     "loss_barrier_test", "error_barrier_test", "created"),
                      ("created", "points", "repair", "dataset", "width", "error_barrier_test")),
    "alignments": Listing(ALIGNMENT_FIELDS, ("id", "run_a", "run_b", "method", "seed", "aligned_run", "objective",
                                             "seconds", "created"), ("created", "seconds", "seed", "objective")),
    "averages": Listing(AVERAGE_FIELDS, ("id", "method", "runs", "averaged_run", "test_acc", "test_loss",
                                         "created"), ("created", "test_loss", "averaged_run", "runs")),
    "sweeps": Listing(SWEEP_FIELDS, ("id", "status", "axis", "values", "seeds", "methods", "rows", "created"),
                      ("created", "methods", "seeds", "values")),
}


def finite(value):
    """`value` with every NaN or infinity, at any depth, replaced by None (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def view(doc: dict, fields: Iterable[str]) -> dict:
    return {key: doc.get(key) for key in fields}


def sweep_view(doc: dict) -> dict:
    """A sweep as a row: what it swept and how far it got (its rows are exported separately)."""
    params = doc.get("params") or {}
    base = params.get("base") or {}
    return {"id": doc.get("id"), "status": doc.get("status"), "axis": params.get("axis"),
            "values": params.get("values"), "seeds": len(base.get("seeds") or ()) or None,
            "methods": params.get("methods"), "rows": len(doc.get("rows") or ()), "created": doc.get("created"),
            "finished": doc.get("finished"), "error": doc.get("error")}


def run_view(doc: dict) -> dict:
    """The stable, flat record of a run (keys only ever grow)."""
    return {key: doc.get(key) for key in RUN_FIELDS}


def filter_docs(docs: Iterable[dict], filters: list[tuple[str, str]], tags: list[str],
                fields: tuple[str, ...] = RUN_FIELDS) -> list[dict]:
    docs = list(docs)
    if not filters and not tags:
        return docs
    known = set(fields).union(*(d.keys() for d in docs)) if docs else set(fields)
    for key, _ in filters:
        if key not in known:
            raise FieldError("filter", f"names an unknown field {key!r}; fields are {', '.join(fields)}")
    return [
        d for d in docs
        if all(matches_value(d.get(key), value) for key, value in filters)
        and all(tag in (d.get("tags") or []) for tag in tags)
    ]


def write_csv(path: str | Path, rows: list[dict], fields: Iterable[str], home: Path | None = None) -> Path:
    """Write rows as CSV with a header (lists joined by ';', dicts as JSON), atomically, to a
    regular file only (`export_files`). Inside the registry `home` only its `exports/` folder
    may be written: an export can never overwrite a file the registry manages."""
    fields = list(fields)

    def write(f) -> None:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in fields})

    return write_export(export_target(path, home), write)


def _cell(value):
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value
