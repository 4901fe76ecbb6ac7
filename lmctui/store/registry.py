"""The registry: one tinydb file under the home, written only through `Registry`.

tinydb is not safe for concurrent writers and rewrites the whole file on each write,
so every write here holds a thread lock and an exclusive `flock` on `home/.lock`, and
the storage replaces the file atomically. Reads need no lock: a reader sees the file
either before or after a write, never half of one. Query caches are off, because
another process may have written since.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from tinydb import TinyDB, where
from tinydb.table import Table

from lmctui.errors import RegistryError
from lmctui.store.atomic_storage import AtomicJSONStorage
from lmctui.store.ids import is_id, new_id, resolve_prefix

SCHEMA_VERSION = 1
TABLES = ("runs", "alignments", "curves", "averages", "jobs", "sweeps")
DEFAULT_HOME = "lmc-runs"
HOST = socket.gethostname()


def resolve_home(home: str | os.PathLike | None) -> Path:
    """--home, else $LMCTUI_HOME, else ./lmc-runs (like MLflow's ./mlruns)."""
    chosen = home or os.environ.get("LMCTUI_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Registry:
    """All reads and writes of `registry.json` and the per-run folders' locations."""

    def __init__(self, home: str | os.PathLike):
        self.home = Path(home)
        if self.home.exists() and not self.home.is_dir():
            raise RegistryError(f"--home {self.home} is a file, not a folder")
        self.path = self.home / "registry.json"
        self._db = TinyDB(storage=AtomicJSONStorage, path=self.path, schema_version=SCHEMA_VERSION)
        self._thread_lock = threading.RLock()
        self._lock_depth = 0  # nesting of `locked` in the thread that holds it
        self._db.storage.read()  # refuse a corrupt or future registry right away

    # -- locations -------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        """The folder of a run; refuses an id that is not one this registry makes (a tampered
        document must never turn into a path outside the home)."""
        if not is_id(run_id):
            raise RegistryError(f"run id {str(run_id)[:40]!r} in {self.home} is not a valid id; "
                                "the registry was changed by hand: nothing was touched")
        return self.home / "runs" / run_id

    # -- reads -----------------------------------------------------------------------
    def all(self, table: str) -> list[dict]:
        return [dict(doc) for doc in self._table(table).all()]

    def get(self, table: str, doc_id: str) -> dict | None:
        doc = self._table(table).get(where("id") == doc_id)
        return dict(doc) if doc is not None else None

    def resolve(self, table: str, prefix: str, what: str | None = None) -> dict:
        """The document whose id is, or uniquely starts with, `prefix`."""
        ids = [doc["id"] for doc in self._table(table).all()]
        return self.get(table, resolve_prefix(ids, prefix, what or table.rstrip("s")))

    # -- writes ----------------------------------------------------------------------
    def insert(self, table: str, doc: dict) -> dict:
        """Store `doc` under a fresh short id (chosen under the lock); return it."""
        return self.insert_many(table, [doc])[0]

    def insert_many(self, table: str, docs: list[dict]) -> list[dict]:
        """Like `insert` for several documents, in one write of the file."""
        with self.locked():
            data = self._db.storage.read() or {}  # one read for every table's ids
            taken = {d.get("id") for t in TABLES for d in (data.get(t) or {}).values()}
            stamped = []
            for doc in docs:
                stamped.append({**doc, "id": new_id(taken), "schema": SCHEMA_VERSION, "created": doc.get("created") or now()})
                taken.add(stamped[-1]["id"])
            self._table(table).insert_multiple(stamped)
        return stamped

    def update(self, table: str, doc_id: str, fields: dict) -> None:
        with self.locked():
            self._table(table).update(fields, where("id") == doc_id)

    def update_many(self, table: str, changes: dict[str, dict]) -> None:
        """Apply {id: fields} to several documents in one write of the file."""
        with self.locked():
            self._table(table).update_multiple([(fields, where("id") == doc_id) for doc_id, fields in changes.items()])

    def remove(self, table: str, doc_id: str) -> None:
        with self.locked():
            self._table(table).remove(where("id") == doc_id)

    def mark_orphans_interrupted(self) -> list[str]:
        """Runs and jobs left `running` by a process on this host that is gone."""
        changed = []
        for table in ("runs", "jobs"):
            for doc in self.all(table):
                if doc.get("status") == "running" and _owner_is_dead(doc):
                    self.update(table, doc["id"], {"status": "interrupted", "finished": now(),
                                                   "error": "the process running it ended"})
                    changed.append(doc["id"])
        return changed

    # -- internals -------------------------------------------------------------------
    def _table(self, name: str):
        if name not in TABLES:
            raise KeyError(name)
        # A fresh Table each time: tinydb caches the next document id per Table,
        # which goes stale as soon as another process writes.
        return Table(self._db.storage, name, cache_size=0)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the write lock across a read-modify-write (re-entrant within a thread)."""
        with self._thread_lock:
            if self._lock_depth:  # flock is per open file: only the outermost holder takes it
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            try:
                self.home.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise RegistryError(f"cannot create home {self.home}: {err.strerror}") from None
            try:
                lock_file = open(self.home / ".lock", "a")
            except OSError as err:
                raise RegistryError(f"cannot lock the registry: {self.home / '.lock'}: {err.strerror}") from None
            with lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                self._lock_depth = 1
                try:
                    yield
                finally:
                    self._lock_depth = 0
                    fcntl.flock(lock_file, fcntl.LOCK_UN)


def _owner_is_dead(doc: dict) -> bool:
    pid = doc.get("pid")
    if doc.get("host") != HOST or not isinstance(pid, int):
        return False  # another machine's worker: we cannot tell
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
