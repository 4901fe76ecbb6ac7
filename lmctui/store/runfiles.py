"""Per-run files: weights (safetensors), config.json and the append-only metrics.jsonl.

Weights are never unpickled: safetensors holds plain tensors only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from lmctui.errors import UserError

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
METRICS = "metrics.jsonl"


def checkpoint_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"epoch_{epoch}.safetensors"


def save_weights(path: Path, state_dict: dict) -> str:
    """Write `state_dict` atomically as safetensors; return the file's sha256."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(tmp))
    os.replace(tmp, path)
    return file_sha256(path)


def load_weights(path: Path, expected_sha256: str | None = None) -> dict:
    """Read weights, refusing a file whose sha256 differs from the registry's."""
    from safetensors.torch import load_file

    if not path.exists():
        raise UserError(f"weights file {path} is missing")
    if expected_sha256 is not None and file_sha256(path) != expected_sha256:
        raise UserError(f"weights file {path} does not match the sha256 in the registry; "
                        "it was changed after training")
    return load_file(str(path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, data: dict) -> None:
    """Write `data` as JSON atomically: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path):
    """The JSON value in `path`, or None when the file is missing or does not parse."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def append_metrics(path: Path, row: dict) -> None:
    """One JSON line per epoch, flushed at once so a killed run keeps its history."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")
        f.flush()


def read_metrics(path: Path) -> list[dict]:
    """Every complete line of metrics.jsonl; a torn last line (a kill mid-write) is skipped."""
    return read_metrics_counted(path)[0]


def read_metrics_counted(path: Path) -> tuple[list[dict], int]:
    """(the readable epoch rows, how many lines were not): damaged bytes never raise."""
    try:
        raw = path.read_bytes()
    except OSError:
        return [], 0
    rows, skipped = [], 0
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("epoch"), int):
            rows.append(row)
        elif line.strip():
            skipped += 1
    return rows, skipped
