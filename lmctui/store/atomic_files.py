"""Files that a reader sees whole or not at all: temp file, fsync, rename, fsync the folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace `path` with `data` in one rename. `durable=False` skips both fsyncs: for
    files whose loss in a power cut costs nothing (a job's live progress), never for
    what the registry promises to keep."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename, creation or removal in `path` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_durably(path: Path, data: bytes, keep_bytes: int) -> bool:
    """Append `data` to `path` and fsync it, first cutting the file back to `keep_bytes`
    (bytes past it are a line torn by a writer that died holding the lock). Returns
    whether the file was created (its folder then needs an fsync too)."""
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size > keep_bytes:
            os.ftruncate(fd, keep_bytes)
        view = memoryview(data)
        while view:  # os.write may write less than asked (a signal, a full disk)
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)
    return created
