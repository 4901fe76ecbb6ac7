"""The home's layout: `registry.json` says which one it is, and schemas 1 and 2 are upgraded in place.

Schema 3 (this one) is schema 2 with each run's config only in `runs/<id>/config.json`, not
in the runs table. Upgrading from 2, under the write lock: the runs table's two files are
copied once to `tables/runs.json.bak-v2` and `runs.jsonl.bak-v2`, every run's config is
written to its folder where that file is missing, the table is written again without
configs (the next generation's snapshot), and the manifest says 3 last; a crash before it
leaves schema 2 with its configs all in the folders, and the next open upgrades again.

Schema 2: `registry.json` is a small manifest, `{"_meta": {"1": {"schema": 2}},
"layout": ...}`, and the tables live in `tables/` (see table_file.py). The manifest keeps
the name and the `_meta` of schema 1 on purpose: an older lmctui opening this home reads
it, finds schema 2 and refuses ("upgrade lmctui") instead of seeing an empty registry
and starting a new one over it.

Schema 1: `registry.json` held every table (a plain tinydb file). It is upgraded on first
open, under the write lock: the old file is copied once to `registry.json.bak-v1`, each
table is written as the first snapshot of its own file, and the manifest replaces
`registry.json` last, atomically; that rename is the upgrade's commit point, so a crash
before it leaves schema 1 in place and the next open upgrades again.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from lmctui import jsonio
from lmctui.bounded_files import JSON_BYTES, read_regular
from lmctui.errors import RegistryError
from lmctui.store.atomic_files import fsync_dir, write_atomic
from lmctui.store.ids import is_id
from lmctui.store.runfiles import CONFIG, write_json
from lmctui.store.table_file import META, TableFile, render_snapshot

MANIFEST = "registry.json"
TABLES_DIR = "tables"
BACKUP_V1 = "registry.json.bak-v1"
BACKUP_V2 = ".bak-v2"  # suffix of the schema-2 runs table's copies: tables/runs.json.bak-v2, runs.jsonl.bak-v2
LAYOUT = ("one tinydb file per table in tables/: <table>.json, a snapshot, and <table>.jsonl, "
          "the journal of writes since; job progress in progress/<job id>.json")
# Copies of run configs that schema-1 curves carried; the runs hold them (no document copies another).
DROPPED_V1_FIELDS = {"curves": ("config_a", "config_b")}


def read_manifest(home: Path, schema: int) -> dict | None:
    """The parsed `registry.json` (None when there is none yet); refuses what it cannot trust."""
    path = home / MANIFEST
    try:
        raw = read_regular(path, "registry", JSON_BYTES, RegistryError)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RegistryError(f"cannot read registry {path}: {err.strerror}") from None
    try:
        data = jsonio.loads(raw)
    except UnicodeDecodeError:
        raise RegistryError(f"registry {path} is corrupt (not UTF-8 text); it was left untouched") from None
    except json.JSONDecodeError as err:
        raise RegistryError(f"registry {path} is corrupt (invalid JSON at line {err.lineno}); "
                            "it was left untouched: restore it or move it away") from None
    if not isinstance(data, dict):
        raise RegistryError(f"registry {path} is corrupt (not a JSON object); it was left untouched")
    found = schema_of(data)
    if found > schema:
        raise RegistryError(f"registry {path} has schema {found}, newer than this lmctui understands "
                            f"({schema}); upgrade lmctui")
    if found < 2:
        check_v1_shape(path, data)
    return data


def schema_of(data: dict) -> int:
    meta = data.get(META) or {}
    try:
        return int(next(iter(meta.values()))["schema"])
    except (StopIteration, KeyError, TypeError, ValueError, AttributeError):
        return 0


def manifest_bytes(schema: int) -> bytes:
    return (json.dumps({META: {"1": {"schema": schema}}, "layout": LAYOUT}, indent=1) + "\n").encode()


def write_manifest(home: Path, schema: int) -> None:
    write_atomic(home / MANIFEST, manifest_bytes(schema))


def check_v1_shape(path: Path, data: dict) -> None:
    """Every table an object of documents with distinct string ids: anything else was made by
    hand, and is refused before any code trusts it."""
    for name, table in data.items():
        if not isinstance(table, dict):
            raise RegistryError(f"registry {path} is corrupt (table {name!r} is not an object); it was left untouched")
        if name == META:
            continue
        ids = [doc.get("id") if isinstance(doc, dict) else None for doc in table.values()]
        if not all(isinstance(i, str) for i in ids):
            raise RegistryError(f"registry {path} is corrupt (a document of {name!r} has no id); it was left untouched")
        if len(set(ids)) < len(ids):
            raise RegistryError(f"registry {path} is corrupt (two documents of {name!r} share an id); "
                                "it was left untouched")


def upgrade_v1(home: Path, data: dict, tables: tuple[str, ...], schema: int) -> None:
    """Rewrite a schema-1 home (already read and checked) in this layout. The caller holds
    the write lock and has re-read `registry.json` under it."""
    path = home / MANIFEST
    backup = home / BACKUP_V1
    if not backup.exists():  # once: a second upgrade attempt (after a crash) keeps the first copy
        tmp = backup.with_name(backup.name + ".tmp")
        shutil.copyfile(path, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        tmp.replace(backup)
        fsync_dir(home)
    folder = home / TABLES_DIR
    for name in tables:
        dropped = DROPPED_V1_FIELDS.get(name, ())
        docs = {doc["id"]: {k: v for k, v in doc.items() if k not in dropped}
                for doc in (data.get(name) or {}).values()}
        write_atomic(folder / f"{name}.json", render_snapshot(name, schema, 1, docs))
        write_atomic(folder / f"{name}.jsonl", b"")  # a journal left by an interrupted try is void
    write_manifest(home, schema)
    counts = ", ".join(f"{len(data.get(t) or {})} {t}" for t in tables if data.get(t))
    print(f"lmctui: upgraded the registry in {home} to schema {schema} (one file per table"
          f"{': ' + counts if counts else ''}); the old file is kept as {backup}", file=sys.stderr)


def upgrade_v2(home: Path, runs: TableFile, field: str, schema: int) -> None:
    """Move every run's `field` (its config) out of the runs table into its folder's config.json.
    The caller holds the write lock and has re-read `registry.json` under it. A run whose id is
    not one lmctui makes keeps its config in the table: its id never becomes a path."""
    for path in (runs.snapshot_path, runs.journal_path):
        backup = path.with_name(path.name + BACKUP_V2)
        if path.exists() and not backup.exists():  # once: a second attempt keeps the first copy
            shutil.copyfile(path, backup)
    docs = runs.refresh()
    for doc_id, doc in docs.items():
        config_file = home / "runs" / doc_id / CONFIG
        if is_id(doc_id) and isinstance(doc.get(field), dict) and not config_file.exists():
            write_json(config_file, doc[field])
    fsync_dir(runs.snapshot_path.parent)
    kept = {doc_id: doc if not is_id(doc_id) else {k: v for k, v in doc.items() if k != field}
            for doc_id, doc in docs.items()}
    write_atomic(runs.snapshot_path, render_snapshot(runs.name, schema, runs.generation + 1, kept))
    write_atomic(runs.journal_path, b"")
    write_manifest(home, schema)
    print(f"lmctui: upgraded the registry in {home} to schema {schema} (each run's config only in its "
          f"folder's {CONFIG}: {len(docs)} runs); the old runs table is kept as "
          f"{runs.snapshot_path.name}{BACKUP_V2}", file=sys.stderr)
