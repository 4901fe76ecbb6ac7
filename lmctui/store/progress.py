"""A running job's live progress: one small file per job, outside the jobs table.

Progress changes several times a second while the jobs table changes when a job starts
or ends, so progress gets its own files: `home/progress/<job id>.json`, each replaced
atomically (a reader sees the old or the new one) and without fsync (after a power cut
a job is interrupted anyway, and its last progress is not worth a disk flush ten times
a second). Writers take no lock: each job has one writer, the process running it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from lmctui.bounded_files import JSON_BYTES, read_regular
from lmctui.store.atomic_files import write_atomic
from lmctui.store.ids import is_id
from lmctui.store.table_file import stat_token

PROGRESS_FIELDS = ("progress", "message", "eta_s")
SUFFIX = ".json"


class ProgressFiles:
    """The progress files of one home."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, job_id: str) -> Path | None:
        """The file of a job; None for an id that must not become a path."""
        return self.folder / f"{job_id}{SUFFIX}" if is_id(job_id) else None

    def write(self, job_id: str, fields: dict) -> None:
        """Replace a job's progress with `fields` (a subset of PROGRESS_FIELDS)."""
        path = self.path(job_id)
        if path is None:
            raise ValueError(f"job id {str(job_id)[:40]!r} is not a valid id")
        data = {k: fields[k] for k in PROGRESS_FIELDS if k in fields}
        write_atomic(path, json.dumps(data, sort_keys=True).encode(), durable=False)

    def read(self, job_ids: Iterable[str] | None = None) -> dict[str, dict]:
        """{job id: progress fields} of the given jobs (every job with a file: None).
        Unreadable files (a disk error, a hand edit) are skipped: progress is advisory."""
        if job_ids is None:
            try:
                names = [n for n in os.listdir(self.folder) if n.endswith(SUFFIX)]
            except FileNotFoundError:
                return {}
            job_ids = [n[: -len(SUFFIX)] for n in names]
        found = {}
        for job_id in job_ids:
            path = self.path(job_id)
            try:
                data = json.loads(read_regular(path, "progress file", JSON_BYTES)) if path is not None else None
            except (OSError, ValueError):  # a UserError (a FIFO, a device) is a ValueError too
                continue
            if isinstance(data, dict):
                found[job_id] = {k: data[k] for k in PROGRESS_FIELDS if k in data}
        return found

    def discard(self, job_ids: Iterable[str]) -> None:
        """Forget the progress of these jobs (their document is the truth again)."""
        for job_id in job_ids:
            path = self.path(job_id)
            if path is not None:
                path.unlink(missing_ok=True)

    def version(self) -> tuple | None:
        """Changes whenever a progress file is written or removed: each is a rename in the folder."""
        return stat_token(self.folder)
