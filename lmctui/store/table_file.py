"""One registry table on disk: a compacted snapshot plus an append-only journal.

    tables/<name>.json    {"_meta": {"1": {"schema": 2, "generation": g}},
                           "<name>": {"<id>": {...document...}, ...}}    (a tinydb file, one document a line)
    tables/<name>.jsonl   one line per committed write: {"g": g, "ops": [operation, ...]}

An operation is {"op": "set", "id", "doc"}, {"op": "update", "id", "fields"} or
{"op": "remove", "id"}. The table is the snapshot with the journal's lines of the
snapshot's generation applied in order. A write appends one line (one write call,
fsync) under the registry's lock, so its cost is the size of the change, not of the
table. A reader keeps the table in memory and reads only the bytes appended since its
last read; two `stat` calls tell it whether there are any.

Compaction (under the lock) writes the current table as the snapshot of the next
generation, atomically, then replaces the journal with an empty one. A crash between
the two leaves journal lines of the old generation, which every reader skips: they
are in the snapshot already. A line without its newline was torn by a writer killed
mid-write; it was never committed (the write had not returned), readers ignore it and
the next writer cuts it off. Any other unreadable line means the file was damaged:
the table is refused, and nothing writes to it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lmctui import __version__, jsonio
from lmctui.bounded_files import TABLE_BYTES, read_regular_stat
from lmctui.errors import RegistryError
from lmctui.store.atomic_files import append_durably, write_atomic

# Compact when the journal outgrows half the snapshot (at least 256 KiB): a fresh reader
# then parses at most 1.5x the table, and compaction's cost, spread over the writes that
# filled the journal, stays proportional to what they wrote.
COMPACT_MIN_BYTES = 256 * 1024
COMPACT_RATIO = 0.5
META = "_meta"


class _Moved(Exception):
    """The files changed under a reader (a compaction): read them again."""


def stat_token(path: Path) -> tuple | None:
    """Identity and size of a file (None when missing): equal tokens, same bytes as far as
    a reader of this registry can tell (files are only appended to or replaced)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class TableFile:
    """One table: its documents in memory (`docs`, id -> document), kept current by `refresh`."""

    def __init__(self, folder: Path, name: str, schema: int):
        self.name, self.schema = name, schema
        self.snapshot_path = Path(folder) / f"{name}.json"
        self.journal_path = Path(folder) / f"{name}.jsonl"
        self.docs: dict[str, dict] = {}
        self.generation = 0
        self._snapshot_token: object = ()  # () = never read; None = no snapshot file
        self._snapshot_size = 0
        self._offset = 0  # journal bytes consumed: always the end of a complete line

    @property
    def loaded(self) -> bool:
        """Whether this table was read into memory (then `refresh` is cheap; else a point read is)."""
        return self._snapshot_token != ()

    def version(self) -> tuple:
        """A token that changes whenever the table may have: two `stat` calls, nothing parsed."""
        return stat_token(self.snapshot_path), stat_token(self.journal_path)

    def refresh(self) -> dict[str, dict]:
        """The current documents, reading only what was appended since the last call.
        Do not mutate what it returns."""
        if stat_token(self.snapshot_path) != self._snapshot_token:
            self._load()
            return self.docs
        try:
            size = os.stat(self.journal_path).st_size
        except FileNotFoundError:
            size = 0
        if size != self._offset:
            try:
                if size < self._offset:
                    raise _Moved()
                self._offset = self._replay(self.docs, self.generation, self._offset)
            except (_Moved, RegistryError):
                self._load()  # replaced under us, or read mid-line of a new file: read it all again
        return self.docs

    def append(self, ops: list[dict]) -> None:
        """Commit `ops` as one journal line (the caller holds the registry's lock)."""
        self.refresh()
        line = (json.dumps({"g": self.generation, "ops": ops}, separators=(",", ":"), sort_keys=True) + "\n").encode()
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        append_durably(self.journal_path, line, keep_bytes=self._offset)
        # Apply what was written, parsed back: the caller keeps no reference into the cache.
        for op in json.loads(line)["ops"]:
            apply_op(self.docs, op)
        self._offset += len(line)
        if self._offset > max(COMPACT_MIN_BYTES, COMPACT_RATIO * self._snapshot_size):
            self.compact()

    def compact(self) -> None:
        """Fold the journal into a new snapshot generation (the caller holds the lock)."""
        self.refresh()
        generation = self.generation + 1
        data = render_snapshot(self.name, self.schema, generation, self.docs)
        write_atomic(self.snapshot_path, data)
        write_atomic(self.journal_path, b"")
        self.generation, self._offset, self._snapshot_size = generation, 0, len(data)
        self._snapshot_token = stat_token(self.snapshot_path)

    # -- reading -----------------------------------------------------------------------
    def _load(self) -> None:
        for _ in range(50):
            token, generation, docs, size = self._read_snapshot()
            try:
                offset = self._replay(docs, generation, 0)
            except _Moved:
                continue
            if stat_token(self.snapshot_path) != token:
                continue  # compacted while we read the journal: what we read may be a mix
            self.docs, self.generation, self._offset = docs, generation, offset
            self._snapshot_token, self._snapshot_size = token, size
            return
        raise RegistryError(f"registry table {self.snapshot_path} keeps changing while being read; try again")

    def _read_snapshot(self) -> tuple[tuple | None, int, dict, int]:
        try:
            raw, st = read_regular_stat(self.snapshot_path, "registry table", TABLE_BYTES, error=RegistryError)
        except FileNotFoundError:
            return None, 0, {}, 0
        except OSError as err:
            raise RegistryError(f"cannot read registry table {self.snapshot_path}: {err.strerror}") from None
        data = _parse(raw, self.snapshot_path, "")
        meta = data.get(META)
        info = next(iter(meta.values()), None) if isinstance(meta, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("schema"), int) \
                or not isinstance(info.get("generation"), int):
            raise _corrupt(self.snapshot_path, "no schema and generation in _meta")
        if info["schema"] > self.schema:
            raise RegistryError(f"registry table {self.snapshot_path} has schema {info['schema']}, newer than "
                                f"this lmctui understands ({self.schema}); upgrade lmctui")
        docs = data.get(self.name, {})
        if not isinstance(docs, dict):
            raise _corrupt(self.snapshot_path, f"table {self.name!r} is not an object")
        for key, doc in docs.items():
            if not isinstance(doc, dict) or doc.get("id") != key:
                raise _corrupt(self.snapshot_path, f"a document of {self.name!r} has no id or not its own")
        return (st.st_ino, st.st_size, st.st_mtime_ns), info["generation"], docs, st.st_size

    def _replay(self, docs: dict, generation: int, offset: int) -> int:
        """Apply the journal's complete lines from byte `offset`; return the new offset."""
        try:
            raw = read_regular_stat(self.journal_path, "registry journal", TABLE_BYTES, offset, RegistryError)[0]
        except FileNotFoundError:
            return offset
        except OSError as err:
            raise RegistryError(f"cannot read registry journal {self.journal_path}: {err.strerror}") from None
        end = raw.rfind(b"\n") + 1  # bytes after the last newline: a line still being written, or torn
        for line in raw[:end].split(b"\n")[:-1]:
            entry = _parse(line, self.journal_path, f" at byte {offset}")
            if not isinstance(entry.get("g"), int) or not isinstance(entry.get("ops"), list):
                raise _corrupt(self.journal_path, f"a line without its generation or operations at byte {offset}")
            if entry["g"] > generation:
                raise _Moved()
            if entry["g"] == generation:  # older ones are in the snapshot already
                for op in entry["ops"]:
                    check_op(op, self.journal_path, self.schema)
                    apply_op(docs, op)
            offset += len(line) + 1
        return offset


def apply_op(docs: dict[str, dict], op: dict) -> None:
    """Apply one journal operation. Never mutates a document in place: one that a caller
    holds stays as it was read."""
    kind, doc_id = op["op"], op["id"]
    if kind == "set":
        docs[doc_id] = op["doc"]
    elif kind == "update":
        if doc_id in docs:
            docs[doc_id] = {**docs[doc_id], **op["fields"]}
    else:
        docs.pop(doc_id, None)


def check_op(op, path: Path, schema: int) -> None:
    """An operation this module writes, or a refusal: a hand-made journal is never half-applied,
    and a document stamped by a newer lmctui is never read as if this one understood it."""
    found = _stamped_schema(op)
    if found is not None and found > schema:
        raise RegistryError(f"registry file {path} holds a write from a newer lmctui (schema {found}; lmctui "
                            f"{__version__} reads schema {schema} and older): use that newer lmctui "
                            "(pip install -U lmctui) for this home")
    ok = isinstance(op, dict) and isinstance(op.get("id"), str) and (
        (op.get("op") == "set" and isinstance(op.get("doc"), dict) and op["doc"].get("id") == op["id"])
        or (op.get("op") == "update" and isinstance(op.get("fields"), dict) and op["fields"].get("id", op["id"]) == op["id"])
        or op.get("op") == "remove")
    if not ok:
        raise _corrupt(path, "an operation it cannot read")


def _stamped_schema(op) -> int | None:
    """The schema stamped on an operation's document (or on the operation), if any."""
    if not isinstance(op, dict):
        return None
    doc = op.get("doc") if isinstance(op.get("doc"), dict) else op.get("fields")
    found = doc.get("schema") if isinstance(doc, dict) and "schema" in doc else op.get("schema")
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def render_snapshot(name: str, schema: int, generation: int, docs: dict[str, dict]) -> bytes:
    """The snapshot as tinydb's JSONStorage would read it, one document a line (diffable, greppable)."""
    dump = lambda value: json.dumps(value, separators=(",", ":"), sort_keys=True)  # noqa: E731
    lines = [f"{dump(doc_id)}:{dump(doc)}" for doc_id, doc in docs.items()]
    # "count" lets a point read (table_scan.py) say how many documents there are without counting lines
    meta = {"count": len(docs), "schema": schema, "generation": generation}
    head = f'{{"{META}":{{"1":{dump(meta)}}},\n{dump(name)}:{{'
    body = "\n" + ",\n".join(lines) + "\n" if lines else ""
    return (head + body + "}}\n").encode()


def _parse(raw: bytes, path: Path, where: str) -> dict:
    try:
        data = jsonio.loads(raw)
    except UnicodeDecodeError:
        raise _corrupt(path, f"not UTF-8 text{where}") from None
    except json.JSONDecodeError as err:
        raise _corrupt(path, f"invalid JSON{where} (line {err.lineno})") from None
    if not isinstance(data, dict):
        raise _corrupt(path, f"not a JSON object{where}")
    return data


def _corrupt(path: Path, why: str) -> RegistryError:
    return RegistryError(f"registry file {path} is corrupt ({why}); it was left untouched: restore it or move it away")
