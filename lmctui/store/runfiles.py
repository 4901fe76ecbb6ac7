"""Per-run files: weights (safetensors), config.json and the append-only metrics.jsonl.

Weights are never unpickled: safetensors holds plain tensors only.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from lmctui.bounded_files import METRICS_BYTES, TENSOR_BYTES, read_regular
from lmctui.errors import UserError
from lmctui.store.atomic_files import write_atomic

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
METRICS = "metrics.jsonl"


def checkpoint_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"epoch_{epoch}.safetensors"


def save_weights(path: Path, state_dict: dict) -> str:
    """Write `state_dict` atomically as safetensors (through a fresh temporary file, so a link
    planted at a fixed temporary name is never written through); return the file's sha256."""
    from safetensors.torch import save

    data = save({k: v.contiguous() for k, v in state_dict.items()})
    write_atomic(path, data, durable=False)
    return hashlib.sha256(data).hexdigest()


def load_weights(path: Path, expected_sha256: str | None = None) -> dict:
    """Read weights, refusing a file whose sha256 differs from the registry's, one that is not a
    regular file of a sane size, and one that is not safetensors. The bytes checked are the
    bytes loaded."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = read_regular(path, "weights file", TENSOR_BYTES)
    except FileNotFoundError:
        raise UserError(f"weights file {path} is missing") from None
    except OSError as err:
        raise UserError(f"weights file {path} cannot be read ({err.strerror})") from None
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise UserError(f"weights file {path} does not match the sha256 in the registry; "
                        "it was changed after training")
    try:
        return load(data)
    except SafetensorError as err:
        raise UserError(f"weights file {path} is not a safetensors file ({err})") from None


def file_sha256(path: Path) -> str:
    """The sha256 of a regular file of a sane size (UserError otherwise, OSError if unreadable)."""
    return hashlib.sha256(read_regular(path, "weights file", TENSOR_BYTES)).hexdigest()


def write_json(path: Path, data: dict) -> None:
    """Write `data` as JSON atomically: a reader sees the old file or the new one, never half."""
    write_atomic(path, _json_bytes(data), durable=False)


def write_new_json(path: Path, data: dict) -> None:
    """`write_json` for a file no reader looks for yet (a fresh run's config): written in place,
    without the temporary file and rename; a file already there, or a link, is replaced as
    `write_json` replaces it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return write_json(path, data)
    with os.fdopen(fd, "wb") as f:
        f.write(_json_bytes(data))


def _json_bytes(data) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def read_json(path: Path):
    """The JSON value in `path`, or None when the file is missing or does not parse."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def append_metrics(path: Path, row: dict) -> None:
    """One JSON line per epoch, written at once so a killed run keeps its history. Only to a
    regular file: a link planted in the run's folder is not followed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(f"metrics file {path} is not a regular file; the epoch was not recorded")
        os.write(fd, (json.dumps(row, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def read_metrics(path: Path) -> list[dict]:
    """Every complete line of metrics.jsonl; a torn last line (a kill mid-write) is skipped."""
    return read_metrics_counted(path)[0]


def read_metrics_counted(path: Path) -> tuple[list[dict], int]:
    """(the readable epoch rows, how many lines were not): damaged bytes never raise."""
    try:
        raw = read_regular(path, "metrics file", METRICS_BYTES)
    except OSError:
        return [], 0
    except UserError:  # a FIFO, a device, a huge file: unreadable, not fatal
        return [], 1
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
