"""The registry: one journaled tinydb file per table under the home, written only through `Registry`.

Every write holds a thread lock and an exclusive `flock` on `home/.lock`, and appends one
fsynced line to its table's journal (table_file.py), so it costs the size of the change,
not of the registry. Reads take no lock: a table is kept in memory and only the bytes
appended since the last read are parsed; two `stat` calls say whether there are any. A process
that has not read a table finds the few documents it needs (an id, the running ones, the
newest page) by a byte search instead of parsing it all (table_scan.py).
Job progress lives in per-job files (progress.py), not in the jobs table. The layout,
and why it is this one: docs/registry.md.
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from lmctui.errors import RegistryError, UserError
import lmctui.store.table_scan as table_scan
from lmctui.store.ids import is_id, new_id_where, resolve_prefix
from lmctui.store.journal_storage import JournaledDB, JournaledStorage, JournaledTable
from lmctui.store.layout import MANIFEST, TABLES_DIR, read_manifest, schema_of, upgrade_v1, upgrade_v2, write_manifest
from lmctui.store.progress import PROGRESS_FIELDS, ProgressFiles
from lmctui.store.runfiles import CONFIG, read_json, write_json, write_new_json

# 3: a run's config only in runs/<id>/config.json; 2: one journaled file per table, progress files;
# 1: everything in registry.json
SCHEMA_VERSION = 3
RUN_CONFIG = "config"  # the field of a run document kept in its folder's config.json, not in the runs table
TABLES = ("runs", "alignments", "curves", "averages", "jobs", "sweeps")
DEFAULT_HOME = "lmc-runs"
# Point reads of one table before a process reads it whole instead: a caller that looks up many
# documents one at a time (a curve's alignment, for each curve) then pays one parse, not a scan each.
POINT_READS = 8
HOST = socket.gethostname()


def resolve_home(home: str | os.PathLike | None) -> Path:
    """--home, else $LMCTUI_HOME, else ./lmc-runs (like MLflow's ./mlruns)."""
    if home is not None and not str(home).strip():
        raise UserError("--home must name a folder, got an empty string")
    chosen = home or os.environ.get("LMCTUI_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Registry:
    """All reads and writes of the registry's tables and the per-run folders' locations.

    Documents returned are copies at the top level; their nested values are shared with the
    in-memory table, so treat those as read-only.

    A run's `config` lives in `runs/<id>/config.json`, not in the runs table (at 100,000 runs
    it would be 40 % of every listing's parse): `insert_many` and `update_many` write it
    there, `get` and `resolve` read it back, and `all("runs")` leaves it out (`run_config`).
    """

    def __init__(self, home: str | os.PathLike):
        self.home = Path(home)
        if self.home.exists() and not self.home.is_dir():
            raise RegistryError(f"--home {self.home} is a file, not a folder")
        self.path = self.home / MANIFEST
        self._thread_lock = threading.RLock()
        self._lock_depth = 0  # nesting of `locked` in the thread that holds it
        self._point_reads: dict[str, int] = {}  # table -> point reads so far (POINT_READS)
        storage = dict(folder=self.home / TABLES_DIR, tables=TABLES, schema=SCHEMA_VERSION, locked=self.locked)
        self._db = JournaledDB(storage=JournaledStorage, **storage)
        self._progress = ProgressFiles(self.home / "progress")
        manifest = read_manifest(self.home, SCHEMA_VERSION)  # refuse a corrupt or future registry right away
        if manifest is not None and schema_of(manifest) < SCHEMA_VERSION:
            self._upgrade()

    # -- locations -------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        """The folder of a run; refuses an id that is not one this registry makes (a tampered
        document must never turn into a path outside the home)."""
        if not is_id(run_id):
            raise RegistryError(f"run id {str(run_id)[:40]!r} in {self.home} is not a valid id; "
                                "the registry was changed by hand: nothing was touched")
        return self.home / "runs" / run_id

    # -- reads -----------------------------------------------------------------------
    def all(self, table: str, copy: bool = True) -> list[dict]:
        """Every document of `table` (jobs with their live progress), in the order they were added.

        `copy=False` hands out the cached documents themselves, for a caller that only
        reads them (a listing that projects each into a new row): never mutate them.
        """
        copy = copy or table == "jobs"  # jobs get their progress laid over them
        docs = [dict(doc) if copy else doc for doc in self._table(table).documents().values()]
        return self._with_progress(docs, None) if table == "jobs" else docs

    def get(self, table: str, doc_id: str) -> dict | None:
        """The document (a run with its `config`, a job with its live progress), or None."""
        found = self._point(table, table_scan.with_ids, [doc_id]) if isinstance(doc_id, str) else None
        doc = (self._table(table).documents() if found is None else found).get(doc_id)
        return None if doc is None else self._completed(table, doc_id, doc)

    def _completed(self, table: str, doc_id: str, doc: dict) -> dict:
        if table == "runs":
            return {**doc, RUN_CONFIG: self.run_config(doc_id)} if RUN_CONFIG not in doc else dict(doc)
        return self._with_progress([dict(doc)], [doc_id])[0] if table == "jobs" else dict(doc)

    def run_config(self, run_id: str) -> dict | None:
        """A run's stored config (its folder's config.json), or None when it has none that reads."""
        if not is_id(run_id):
            return None
        config = read_json(self.run_dir(run_id) / CONFIG)
        return config if isinstance(config, dict) else None

    def resolve(self, table: str, prefix: str, what: str | None = None) -> dict:
        """The document whose id is, or uniquely starts with, `prefix`."""
        docs = self.starting_with(table, prefix)
        found = prefix if prefix in docs else resolve_prefix(docs.keys(), prefix, what or table.rstrip("s"))
        return self._completed(table, found, docs[found])

    def starting_with(self, table: str, prefix: str) -> dict[str, dict]:
        """{id: document} of at least the documents whose id is `prefix` or starts with it as
        `resolve` reads it (trimmed, lower case); never mutate them. A table not read into this
        process yet is searched, not parsed (table_scan.py); the ids resolve_prefix needs are all here."""
        key = prefix.strip().lower()
        found = self._point(table, table_scan.with_prefix, key) if key else {}
        if found is not None and prefix not in (key, ""):  # `resolve` tries the prefix as typed first
            exact = self._point(table, table_scan.with_prefix, prefix)
            found = None if exact is None else {**found, **exact}
        return self._table(table).documents() if found is None else found

    def newest(self, table: str, n: int) -> tuple[list[dict], int]:
        """The `n` documents added to `table` last (oldest first; all of them: n=0 reads the whole
        table) and how many the table holds. Without the table in memory, only those are parsed."""
        page = self._point(table, table_scan.newest, n) if n else None
        if page is None:
            docs = list(self.all(table, copy=False))
            return docs[-n:] if n else docs, len(docs)
        return (self._with_progress([dict(doc) for doc in page[0]], None) if table == "jobs" else page[0]), page[1]

    def version(self, table: str) -> tuple:
        """A change token of `table`: equal tokens mean nothing changed since. It costs a few
        `stat` calls and parses nothing, so a reader can poll it and read only on a change.
        The jobs table's token also changes with any job's live progress."""
        file_token = self._table(table).file.version()
        return (file_token, self._progress.version()) if table == "jobs" else file_token

    def changed(self, seen: dict[str, tuple]) -> dict[str, tuple]:
        """{table: new token} for each table whose token differs from `seen` (tables missing from
        `seen` count as changed): `seen.update(registry.changed(seen))` keeps a reader current."""
        tokens = {table: self.version(table) for table in TABLES}
        return {table: token for table, token in tokens.items() if seen.get(table, ()) != token}

    def progress(self, job_ids: Iterable[str] | None = None) -> dict[str, dict]:
        """{job id: {progress, message, eta_s}} of the jobs whose live progress is on file
        (of every such job when `job_ids` is None). One small file read per job."""
        return self._progress.read(job_ids)

    # -- writes ----------------------------------------------------------------------
    def insert(self, table: str, doc: dict) -> dict:
        """Store `doc` under a fresh short id (chosen under the lock); return it."""
        return self.insert_many(table, [doc])[0]

    def insert_many(self, table: str, docs: list[dict]) -> list[dict]:
        """Like `insert` for several documents, in one journal write: the bulk path (an import of
        100,000 runs is one call). Runs' configs are written to their folders first."""
        target = self._table(table)
        with self.locked():
            stamped, fresh, taken = [], set(), self._id_taken
            for doc in docs:
                doc_id = new_id_where(lambda c: c not in fresh and not taken(c, refresh=not stamped))
                fresh.add(doc_id)
                stamped.append({**doc, "id": doc_id, "schema": SCHEMA_VERSION, "created": doc.get("created") or now()})
            target.insert_multiple([self._config_aside(table, doc["id"], doc, fresh=True) for doc in stamped])
        return stamped

    def update(self, table: str, doc_id: str, fields: dict) -> None:
        self.update_many(table, {doc_id: fields})

    def update_many(self, table: str, changes: dict[str, dict]) -> None:
        """Apply {id: fields} to several documents in one journal write. A job update that sets
        its status or any of progress, message, eta_s first folds the job's live progress into
        the document (the fields given win) and ends the live progress."""
        target, changes = self._table(table), dict(changes)  # folding progress must not change the caller's dict
        with self.locked():
            for doc_id, fields in changes.items():
                new = fields.get("id", doc_id)
                if new != doc_id and self._id_taken(new):
                    raise UserError(f"id {new} is taken")
            folded = self._fold_progress(changes) if table == "jobs" else []
            target.update_by_id({doc_id: self._config_aside(table, doc_id, fields) for doc_id, fields in changes.items()})
            self._progress.discard(folded)

    def remove(self, table: str, doc_id: str) -> None:
        with self.locked():
            self._table(table).remove(doc_ids=[doc_id])
            if table == "jobs":
                self._progress.discard([doc_id])

    def write_progress(self, job_id: str, progress: float, message: str, eta_s: float | None = None) -> None:
        """Record a running job's live progress: one small file replaced atomically, no lock, no
        rewrite of the jobs table. Read back through `progress`, `get` and `all` until the job's next
        status change folds it into the job's document."""
        self._progress.write(job_id, {"progress": progress, "message": message, "eta_s": eta_s})

    def compact(self, table: str | None = None) -> None:
        """Fold the journal of `table` (of every table: None) into its snapshot now."""
        with self.locked():
            for name in [table] if table else TABLES:
                self._table(name).file.compact()

    def mark_orphans_interrupted(self) -> list[str]:
        """Runs and jobs left `running` by a process on this host that is gone."""
        changed = []
        for table in ("runs", "jobs"):
            running = self._point(table, table_scan.running)  # at open: never parse a whole table for this
            if running is None:
                running = {i: d for i, d in self._table(table).documents().items() if d.get("status") == "running"}
            for doc in list(running.values()):
                if _owner_is_dead(doc):
                    self.update(table, doc["id"], {"status": "interrupted", "finished": now(),
                                                   "error": "the process running it ended"})
                    changed.append(doc["id"])
        return changed

    # -- internals -------------------------------------------------------------------
    def _table(self, name: str) -> JournaledTable:
        if name not in TABLES:
            raise KeyError(name)
        return self._db.table(name, cache_size=0)

    def _point(self, table: str, reader, *args):
        """A point read (table_scan.py) of a table this process has not read into memory; None when
        the table is in memory (cheaper to use), when this process has made POINT_READS of it
        already, or when its files need a full read."""
        file = self._table(table).file
        if file.loaded:
            return None
        self._point_reads[table] = self._point_reads.get(table, 0) + 1
        return reader(file, *args) if self._point_reads[table] <= POINT_READS else None

    def _id_taken(self, candidate: str, refresh: bool = True) -> bool:
        """Ids are unique across all tables (a prefix names one thing, whatever the table).
        Under the lock, tables refreshed once stay current: `refresh=False` skips the `stat`s."""
        if refresh:
            return any(candidate in self._table(name).documents() for name in TABLES)
        return any(candidate in self._table(name).file.docs for name in TABLES)

    def _config_aside(self, table: str, doc_id: str, fields: dict, fresh: bool = False) -> dict:
        """`fields` of run `doc_id` without its config, which goes to the run's config.json first
        (before the journal line: a reader never finds a run whose config is not there yet).
        A `fresh` id's file is written in place: no reader knows the id before the journal line."""
        if table != "runs" or RUN_CONFIG not in fields or not is_id(doc_id):
            return fields
        if fields[RUN_CONFIG] is not None:
            (write_new_json if fresh else write_json)(self.run_dir(doc_id) / CONFIG, fields[RUN_CONFIG])
        return {k: v for k, v in fields.items() if k != RUN_CONFIG}

    def _with_progress(self, jobs: list[dict], ids: list[str] | None) -> list[dict]:
        # A progress file lives from a job's first progress write to its next status change
        # (`_fold_progress`), so while one exists it is newer than the document's fields.
        live = self._progress.read(ids)
        for job in jobs:
            if job["id"] in live:
                job.update(live[job["id"]])
        return jobs

    def _fold_progress(self, changes: dict[str, dict]) -> list[str]:
        """Merge the live progress of the jobs these changes touch into the changes (in place);
        return those jobs' ids, whose progress files are then removed."""
        touched = [i for i, fields in changes.items() if "status" in fields or PROGRESS_FIELDS & fields.keys()]
        live = self._progress.read(touched)
        for job_id, fields in live.items():
            changes[job_id] = {**fields, **changes[job_id]}
        return touched

    def _upgrade(self) -> None:
        with self.locked(create_manifest=False):
            data = read_manifest(self.home, SCHEMA_VERSION)  # again, under the lock: another process may have
            if data is not None and schema_of(data) < 2:
                upgrade_v1(self.home, data, TABLES, 2)
                data = read_manifest(self.home, SCHEMA_VERSION)
            if data is not None and schema_of(data) < 3:
                upgrade_v2(self.home, self._table("runs").file, RUN_CONFIG, SCHEMA_VERSION)

    @contextmanager
    def locked(self, create_manifest: bool = True) -> Iterator[None]:
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
            lock_file = _open_lock(self.home / ".lock")
            with lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                self._lock_depth = 1
                try:
                    if create_manifest and not self.path.exists():
                        write_manifest(self.home, SCHEMA_VERSION)  # a new home: say its layout before any table
                    yield
                finally:
                    self._lock_depth = 0
                    fcntl.flock(lock_file, fcntl.LOCK_UN)


def _open_lock(path: Path):
    """The lock file, opened without blocking: a FIFO planted there would otherwise wait for a
    reader forever. Anything but a regular file is refused."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise RegistryError(f"cannot lock the registry: {path}: {err.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RegistryError(f"cannot lock the registry: {path} is not a regular file")
    return os.fdopen(fd, "a")


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
