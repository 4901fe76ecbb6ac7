"""tinydb over journaled table files: a Storage, and a Table whose writes cost one journal line.

tinydb's own Table reads the whole database through `Storage.read` and writes it back
through `Storage.write` on every change. `JournaledTable` keeps tinydb's interface
(insert, update, remove, get, all, search, Query) but reads only its own table, keyed by
the project's string ids (so `get(doc_id=...)` is a dict lookup), and turns an insert,
an update by id or a remove by id into one journal line. Anything else tinydb does
(an update by query, a callable update, truncate) still works: it goes through
`JournaledStorage.write`, which journals the difference from what is stored, at a
cost that grows with the table.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable, Iterable, Mapping

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from lmctui.store.table_file import TableFile


class JournaledStorage(Storage):
    """One `TableFile` per table in `folder`; `locked()` is the registry's write lock."""

    def __init__(self, folder: Path, tables: Iterable[str], schema: int,
                 locked: Callable[[], AbstractContextManager]):
        self.files = {name: TableFile(folder, name, schema) for name in tables}
        self.locked = locked

    def read(self) -> dict:
        """The whole database, as copies: tinydb's generic writes change what they read."""
        return {name: {doc_id: dict(doc) for doc_id, doc in file.refresh().items()}
                for name, file in self.files.items()}

    def write(self, data: dict) -> None:
        """Journal, per table, the difference between `data` and what is stored."""
        with self.locked():
            for name, file in self.files.items():
                ops = diff_ops(file.refresh(), data.get(name) or {})
                if ops:
                    file.append(ops)

    def close(self) -> None:
        pass


class JournaledTable(Table):
    """A tinydb Table whose document ids are the documents' own `id` strings."""

    document_id_class = str

    @property
    def file(self) -> TableFile:
        return self._storage.files[self.name]

    def documents(self) -> dict[str, dict]:
        """id -> document, current, without copying: read it, never change it."""
        return self.file.refresh()

    def _read_table(self) -> dict[str, Mapping]:
        return self.file.refresh()

    def _update_table(self, updater) -> None:
        with self._storage.locked():
            super()._update_table(updater)

    def insert(self, document: Mapping) -> str:
        return self.insert_multiple([document])[0]

    def insert_multiple(self, documents: Iterable[Mapping]) -> list[str]:
        """Insert documents that carry their own `id`; one journal line for all of them."""
        ops = []
        for document in documents:
            doc = dict(document)
            doc_id = getattr(document, "doc_id", None) or doc.get("id")
            if not isinstance(doc_id, str) or doc.get("id", doc_id) != doc_id:
                raise ValueError("a document needs a string id equal to its `id` field")
            ops.append({"op": "set", "id": doc_id, "doc": {**doc, "id": doc_id}})
        with self._storage.locked():
            stored = self.file.refresh()
            taken = [op["id"] for op in ops if op["id"] in stored]
            if taken or len({op["id"] for op in ops}) < len(ops):
                raise ValueError(f"document with id {(taken or [ops[0]['id']])[0]} already exists")
            if ops:
                self.file.append(ops)
        return [op["id"] for op in ops]

    def update(self, fields, cond=None, doc_ids=None) -> list[str]:
        if doc_ids is None or callable(fields):
            return super().update(fields, cond, doc_ids)
        return self.update_by_id({doc_id: fields for doc_id in doc_ids})

    def update_by_id(self, changes: Mapping[str, Mapping]) -> list[str]:
        """Apply {id: fields}, one journal line; ids not stored are skipped (as tinydb does).
        A new `id` among the fields moves the document to that id."""
        with self._storage.locked():
            stored = self.file.refresh()
            ops, done = [], []
            for doc_id, fields in changes.items():
                if doc_id not in stored:
                    continue
                done.append(doc_id)
                new_id = fields.get("id", doc_id)
                if new_id == doc_id:
                    ops.append({"op": "update", "id": doc_id, "fields": dict(fields)})
                else:  # as a remove and a set, so every operation names the one id it touches
                    ops += [{"op": "remove", "id": doc_id},
                            {"op": "set", "id": new_id, "doc": {**stored[doc_id], **fields}}]
            if ops:
                self.file.append(ops)
        return done

    def remove(self, cond=None, doc_ids=None) -> list[str]:
        if doc_ids is None:
            return super().remove(cond)
        with self._storage.locked():
            stored = self.file.refresh()
            gone = [doc_id for doc_id in doc_ids if doc_id in stored]
            if gone:
                self.file.append([{"op": "remove", "id": doc_id} for doc_id in gone])
        return gone


class JournaledDB(TinyDB):
    """TinyDB whose tables are `JournaledTable`s (use with `storage=JournaledStorage`)."""

    table_class = JournaledTable


def diff_ops(stored: Mapping[str, dict], wanted: Mapping[str, Mapping]) -> list[dict]:
    """The operations that turn `stored` into `wanted`."""
    ops = [{"op": "remove", "id": doc_id} for doc_id in stored if doc_id not in wanted]
    for doc_id, doc in wanted.items():
        if stored.get(doc_id) != doc:
            if dict(doc).get("id", doc_id) != doc_id:
                raise ValueError("changing a document's id needs update by id")
            ops.append({"op": "set", "id": doc_id, "doc": {**doc, "id": doc_id}})
    return ops
