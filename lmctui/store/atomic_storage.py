"""A tinydb Storage that never leaves a half-written file and refuses what it cannot read."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tinydb.storages import Storage

from lmctui.errors import RegistryError

META_TABLE = "_meta"


class AtomicJSONStorage(Storage):
    """JSON on disk, replaced atomically (temp file, fsync, os.replace) on every write.

    `read` refuses a corrupt file or one written by a newer schema, so tinydb never
    gets the chance to overwrite it.
    """

    def __init__(self, path: Path, schema_version: int):
        self.path = Path(path)
        self.schema_version = schema_version

    def read(self) -> dict | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise RegistryError(f"registry {self.path} is corrupt (not UTF-8 text); it was left untouched") from None
        except OSError as err:
            raise RegistryError(f"cannot read registry {self.path}: {err.strerror}") from None
        try:
            data = json.loads(text)
        except UnicodeDecodeError:
            raise RegistryError(f"registry {self.path} is corrupt (not UTF-8 text); it was left untouched") from None
        except json.JSONDecodeError as err:
            raise RegistryError(f"registry {self.path} is corrupt (invalid JSON at line {err.lineno}); "
                                "it was left untouched: restore it or move it away") from None
        if not isinstance(data, dict):
            raise RegistryError(f"registry {self.path} is corrupt (not a JSON object); it was left untouched")
        schema = _schema_of(data)
        if schema > self.schema_version:
            raise RegistryError(f"registry {self.path} has schema {schema}, newer than this lmctui "
                                f"understands ({self.schema_version}); upgrade lmctui")
        _check_shape(self.path, data)
        return data

    def write(self, data: dict) -> None:
        data.setdefault(META_TABLE, {"1": {"schema": self.schema_version}})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".registry-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)

    def close(self) -> None:
        pass


def _check_shape(path: Path, data: dict) -> None:
    """Every table an object of documents, every document an object with an id: anything else
    was made by hand, and is refused before any code trusts it."""
    for name, table in data.items():
        if not isinstance(table, dict):
            raise RegistryError(f"registry {path} is corrupt (table {name!r} is not an object); it was left untouched")
        if name == META_TABLE:
            continue
        for doc in table.values():
            if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
                raise RegistryError(f"registry {path} is corrupt (a document of {name!r} has no id); "
                                    "it was left untouched")


def _schema_of(data: dict) -> int:
    meta = data.get(META_TABLE) or {}
    try:
        return int(next(iter(meta.values()))["schema"])
    except (StopIteration, KeyError, TypeError, ValueError):
        return 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
