"""Point reads of one table: a few of its documents without parsing the rest (docs/registry.md).

A snapshot written by `render_snapshot` holds one document a line (`"<id>":{...}`, keys
sorted, no spaces). So the documents with an id prefix, the ones whose status is running,
or the newest N are found by a byte search over the mapped snapshot and only their lines
are parsed. The journal (what was written since the last compaction: at most half the
snapshot, usually far less) is read and checked whole, as a full read checks it, and its
operations on those documents are applied in order (an operation touches the one
document it names, so the others cannot change them).

Like a full read, a point read takes no lock: it maps the snapshot, reads the journal,
and starts again when the snapshot was replaced meanwhile (a compaction). Each reader
here returns None when the files are not laid out as this module expects (a snapshot
written by hand, an id that JSON escapes, a damaged line among those it needs): the
caller then reads the whole table, which also words any error as it always has.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
from dataclasses import dataclass
from typing import Callable, Iterable

from lmctui import jsonio
from lmctui.bounded_files import TABLE_BYTES, read_regular_stat
from lmctui.errors import RegistryError
from lmctui.store.table_file import META, TableFile, _Moved, apply_op, check_op, stat_token

HEAD = re.compile(rb'\{"' + META.encode() + rb'":\{"1":(\{[^\n]*\})\},\n"([^"\\\n]*)":\{')
KEY = re.compile(rb'"([^"\\\n]*)":\{')  # a document line's id
LINE_KEY = re.compile(rb'\n"([^"\\\n]*)":\{')  # the same, from the newline before it
PLAIN = re.compile(r"[!#-\[\]-~]+")  # ids and prefixes JSON writes as they are: no quote, backslash or space
RUNNING = b'"status":"running"'


class _Unreadable(Exception):
    """Not laid out as `render_snapshot` and `TableFile.append` write: read the whole table instead."""


@dataclass
class _Files:
    """One consistent look at a table: the mapped snapshot and its journal's operations."""

    file: TableFile
    snapshot: bytes | mmap.mmap
    body: int  # the newline before the first document line
    end: int  # the newline after the last document line (== body: no documents)
    generation: int
    count: int | None  # the snapshot's documents, when its _meta says
    ops: list[dict]  # the journal's operations on this snapshot, in order

    def line_at(self, newline: int) -> bytes:
        """The document line after the newline at `newline`, without its comma."""
        stop = self.snapshot.find(b"\n", newline + 1, self.end + 1)
        line = self.snapshot[newline + 1:stop]
        return line[:-1] if line.endswith(b",") else line

    def snapshot_lines(self, ids: set[str]) -> dict[str, bytes]:
        """{id: document line} of those of `ids` that the snapshot holds."""
        if len(ids) <= 4:  # a search per id; one pass over every line beyond that
            found = {}
            for doc_id in ids:
                at = self.snapshot.find(b'\n"' + doc_id.encode() + b'":', self.body, self.end)
                if at >= 0:
                    found[doc_id] = self.line_at(at)
            return found
        wanted = {doc_id.encode() for doc_id in ids}
        return {m.group(1).decode(): self.line_at(m.start())
                for m in LINE_KEY.finditer(self.snapshot, self.body, self.end) if m.group(1) in wanted}


def parse_lines(lines: Iterable[bytes]) -> dict[str, dict]:
    """{id: document} of snapshot document lines, each checked as a full read checks it."""
    try:
        docs = jsonio.loads(b"{" + b",".join(lines) + b"}")
    except ValueError:
        raise _Unreadable() from None
    if any(not isinstance(doc, dict) or doc.get("id") != key for key, doc in docs.items()):
        raise _Unreadable()
    return docs


def replay(files: _Files, docs: dict, wanted: Callable[[str], bool]) -> dict:
    """`docs` with the journal's operations on the `wanted` ids applied in order."""
    for op in files.ops:
        if wanted(op["id"]):
            apply_op(docs, op)
    return docs


# -- the readers ------------------------------------------------------------------------
def with_prefix(file: TableFile, prefix: str) -> dict[str, dict] | None:
    """{id: document} of the documents whose id starts with `prefix` (a non-empty plain one)."""
    if not PLAIN.fullmatch(prefix):
        return None

    def read(files: _Files) -> dict:
        needle = b'\n"' + prefix.encode()
        lines, at = [], files.snapshot.find(needle, files.body, files.end)
        while at >= 0:
            lines.append(files.line_at(at))
            at = files.snapshot.find(needle, at + 1, files.end)
        return replay(files, parse_lines(lines), lambda doc_id: doc_id.startswith(prefix))

    return _read(file, read)


def running(file: TableFile) -> dict[str, dict] | None:
    """{id: document} of the documents whose status is running: the lines that say so anywhere are
    the candidates, then each candidate is read as `with_ids` reads it."""
    def read(files: _Files) -> dict:
        candidates, at = set(), files.snapshot.find(RUNNING, files.body, files.end)
        while at >= 0:
            newline = files.snapshot.rfind(b"\n", files.body, at)
            candidates.add(_key(files.line_at(newline)))
            at = files.snapshot.find(RUNNING, files.snapshot.find(b"\n", at), files.end)
        candidates.update(op["id"] for op in files.ops if _written(op).get("status") == "running")
        docs = _docs_with_ids(files, candidates)
        return {doc_id: doc for doc_id, doc in docs.items() if doc.get("status") == "running"}

    return _read(file, read)


def with_ids(file: TableFile, ids: Iterable[str]) -> dict[str, dict] | None:
    """{id: document} of those of `ids` that the table holds."""
    ids = set(ids)
    if not all(PLAIN.fullmatch(doc_id) for doc_id in ids):
        return None
    return _read(file, lambda files: _docs_with_ids(files, ids))


def newest(file: TableFile, n: int) -> tuple[list[dict], int] | None:
    """The `n` documents added to the table last, oldest first, and how many it holds.

    The table's order is the order documents were added: a snapshot keeps it, and a journal
    `set` of an id the table lacks puts that document last (an update, or a set of a present
    id, leaves it where it is; a move is a remove and a set)."""
    return _read(file, lambda files: _newest(files, n))


def _newest(files: _Files, n: int) -> tuple[list[dict], int]:
    moved = {op["id"] for op in files.ops if op["op"] != "update"}
    if not all(PLAIN.fullmatch(doc_id) for doc_id in moved):
        raise _Unreadable()
    in_snapshot = files.snapshot_lines(moved)
    count = files.count if files.count is not None else _count(files)
    present, added, removed = set(in_snapshot), {}, set()
    for op in files.ops:
        if op["op"] == "set" and op["id"] not in present:
            present.add(op["id"])
            added[op["id"]] = None
            count += 1
        elif op["op"] == "remove" and op["id"] in present:
            present.discard(op["id"])
            added.pop(op["id"], None)
            removed.add(op["id"])
            count -= 1
    tail = list(added)[-n:] if n else []
    older, stop = {}, files.end  # the snapshot's last lines still where they were written
    while len(tail) + len(older) < n and stop > files.body:
        newline = files.snapshot.rfind(b"\n", files.body, stop)
        line = files.line_at(newline)
        if _key(line) not in removed:
            older[_key(line)] = line
        stop = newline
    order = list(reversed(older)) + tail
    docs = replay(files, parse_lines(older.values()), set(order).__contains__)
    return [docs[doc_id] for doc_id in order], count


def _docs_with_ids(files: _Files, ids: set[str]) -> dict[str, dict]:
    if not ids:
        return {}
    if not all(PLAIN.fullmatch(doc_id) for doc_id in ids):
        raise _Unreadable()
    return replay(files, parse_lines(files.snapshot_lines(ids).values()), ids.__contains__)


def _written(op: dict) -> dict:
    """The fields an operation writes (a set's document, an update's fields; a remove: none)."""
    return op.get("doc") or op.get("fields") or {}


def _key(line: bytes) -> str:
    found = KEY.match(line)
    if found is None:
        raise _Unreadable()
    return found.group(1).decode()


def _count(files: _Files) -> int:
    """The snapshot's documents, by its lines (a snapshot written before _meta said how many)."""
    return files.snapshot[files.body:files.end].count(b"\n")


# -- one consistent look ----------------------------------------------------------------
def _read(file: TableFile, reader: Callable[[_Files], object]):
    """`reader` over one consistent look at the files, or None when they are not laid out for it."""
    for _ in range(50):
        try:
            files, token = _open(file)
        except _Moved:
            continue
        except _Unreadable:
            return None
        try:
            result = reader(files)
        except _Moved:
            continue
        except _Unreadable:
            return None
        finally:
            if isinstance(files.snapshot, mmap.mmap):
                files.snapshot.close()
        if stat_token(file.snapshot_path) == token:
            return result
    raise RegistryError(f"registry table {file.snapshot_path} keeps changing while being read; try again")


def _open(file: TableFile) -> tuple[_Files, tuple | None]:
    snapshot, token = _map(file)
    if snapshot is None:
        return _Files(file, b"", 0, 0, 0, 0, _journal_ops(file, 0)), None
    head = HEAD.match(snapshot)
    try:
        info = jsonio.loads(head.group(1)) if head and head.group(2) == file.name.encode() else None
    except ValueError:
        info = None
    body = head.end() if head else 0
    if not isinstance(info, dict) or not isinstance(info.get("generation"), int) \
            or not isinstance(info.get("schema"), int) or info["schema"] > file.schema:
        snapshot.close()
        raise _Unreadable()
    if len(snapshot) == body + 3 and snapshot[body:] == b"}}\n":
        end = body
    elif snapshot[body:body + 1] == b"\n" and snapshot[-4:] == b"\n}}\n":
        end = len(snapshot) - 4
    else:
        snapshot.close()
        raise _Unreadable()
    count = info.get("count") if isinstance(info.get("count"), int) else None
    try:
        ops = _journal_ops(file, info["generation"])
    except BaseException:
        snapshot.close()
        raise
    return _Files(file, snapshot, body, end, info["generation"], count, ops), token


def _map(file: TableFile) -> tuple[mmap.mmap | None, tuple | None]:
    try:
        fd = os.open(file.snapshot_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except OSError:
        raise _Unreadable() from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not 0 < st.st_size <= TABLE_BYTES:
            raise _Unreadable()
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ), (st.st_ino, st.st_size, st.st_mtime_ns)
    finally:
        os.close(fd)


def _journal_ops(file: TableFile, generation: int) -> list[dict]:
    """The journal's operations on the snapshot of `generation`, every line checked as `TableFile`
    checks it; _Unreadable when one fails (the full read then says why)."""
    try:
        raw = read_regular_stat(file.journal_path, "registry journal", TABLE_BYTES, error=RegistryError)[0]
    except FileNotFoundError:
        return []
    except (OSError, RegistryError):
        raise _Unreadable() from None
    ops = []
    for line in raw[:raw.rfind(b"\n") + 1].split(b"\n")[:-1]:  # after the last newline: being written, or torn
        try:
            entry = jsonio.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("g"), int) \
                    or not isinstance(entry.get("ops"), list):
                raise _Unreadable()
            for op in entry["ops"]:
                check_op(op, file.journal_path, file.schema)
        except (ValueError, RegistryError):
            raise _Unreadable() from None
        if entry["g"] > generation:
            raise _Moved()
        if entry["g"] == generation:  # older ones are in the snapshot already
            ops += entry["ops"]
    return ops
