"""The flat views of registry documents that tables, JSON output and CSV export share.

No torch, no UI: the TUI imports this at start-up.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable

from lmctui.errors import UserError
from lmctui.parsing import matches_value

RUN_FIELDS = (
    "id", "kind", "dataset", "arch", "width", "depth", "norm", "seed", "init_seed", "data_seed",
    "optimizer", "lr", "batch_size", "epochs", "status", "epochs_done", "train_loss", "train_acc",
    "test_loss", "test_acc", "seconds", "device", "parent", "tags", "created", "finished", "error",
)


CURVE_FIELDS = (
    "id", "run_a", "run_b", "method", "alignment", "dataset", "arch", "width", "depth", "norm",
    "optimizer", "lr", "batch_size", "epochs", "seed_a", "seed_b", "points", "repair", "reset_bn",
    "loss_barrier_train", "loss_barrier_test", "error_barrier_train", "error_barrier_test",
    "mid_loss_train", "mid_loss_test", "mid_acc_train", "mid_acc_test", "created",
)
CURVE_SERIES = ("alpha", "train_loss", "test_loss", "train_acc", "test_acc")
ALIGNMENT_FIELDS = ("id", "run_a", "run_b", "method", "seed", "aligned_run", "iterations", "objective",
                    "solves", "seconds", "created")
AVERAGE_FIELDS = ("id", "method", "runs", "reference", "averaged_run", "rounds", "train_loss", "train_acc",
                  "test_loss", "test_acc", "endpoints", "ensemble", "seconds", "created")


def view(doc: dict, fields: Iterable[str]) -> dict:
    return {key: doc.get(key) for key in fields}


def run_view(doc: dict) -> dict:
    """The stable, flat record of a run (keys only ever grow)."""
    return {key: doc.get(key) for key in RUN_FIELDS}


def filter_docs(docs: Iterable[dict], filters: list[tuple[str, str]], tags: list[str]) -> list[dict]:
    docs = list(docs)
    known = set(RUN_FIELDS).union(*(d.keys() for d in docs)) if docs else set(RUN_FIELDS)
    for key, _ in filters:
        if key not in known:
            raise UserError(f"--filter: unknown field {key!r}; fields are {', '.join(RUN_FIELDS)}")
    return [
        d for d in docs
        if all(matches_value(d.get(key), value) for key, value in filters)
        and all(tag in (d.get("tags") or []) for tag in tags)
    ]


def write_csv(path: str | Path, rows: list[dict], fields: Iterable[str]) -> Path:
    """Write rows as CSV with a header; lists joined by ';', dicts as JSON."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"--out {path} is a folder; give a file name")
    if not path.parent.exists():
        raise UserError(f"--out {path}: folder {path.parent} does not exist")
    fields = list(fields)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in fields})
    return path


def _cell(value):
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value
