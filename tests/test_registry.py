import json
import os
import subprocess
import sys
import threading

import pytest

from lmctui.errors import RegistryError, UserError
from lmctui.store import SCHEMA_VERSION, TABLES, Registry
from lmctui.store.ids import resolve_prefix
from lmctui.store.registry import HOST


def test_insert_get_update_remove(home):
    registry = Registry(home)
    doc = registry.insert("runs", {"status": "running", "width": 8})
    assert len(doc["id"]) == 6 and doc["schema"] == SCHEMA_VERSION
    registry.update("runs", doc["id"], {"status": "done"})
    assert Registry(home).get("runs", doc["id"])["status"] == "done"
    registry.remove("runs", doc["id"])
    assert registry.all("runs") == []


def test_reading_a_missing_home_creates_nothing(home):
    assert Registry(home).all("runs") == []
    assert not home.exists()


def test_prefixes_resolve_uniquely():
    ids = ["abc234", "abd567", "xyz999"]
    assert resolve_prefix(ids, "x") == "xyz999"
    assert resolve_prefix(ids, "abc234") == "abc234"
    with pytest.raises(UserError, match="ambiguous"):
        resolve_prefix(ids, "ab")
    with pytest.raises(UserError, match="no run"):
        resolve_prefix(ids, "q")


def test_corrupt_registry_is_refused_and_left_untouched(home):
    home.mkdir()
    path = home / "registry.json"
    path.write_text('{"runs": {"1": {"id": "abc"')
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="corrupt"):
        Registry(home)
    assert path.read_bytes() == before


def test_future_schema_is_refused(home):
    home.mkdir()
    (home / "registry.json").write_text(json.dumps({"_meta": {"1": {"schema": SCHEMA_VERSION + 1}}, "runs": {}}))
    with pytest.raises(RegistryError, match="newer"):
        Registry(home)


def test_home_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "afile"
    path.write_text("")
    with pytest.raises(RegistryError, match="is a file"):
        Registry(path)


def test_writes_are_atomic_and_leave_no_temp_files(home):
    registry = Registry(home)
    for i in range(5):
        registry.insert("runs", {"i": i})
    registry.compact()
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert files == [".lock", "registry.json"] + [f"tables/{t}.{ext}" for t in sorted(TABLES) for ext in ("json", "jsonl")]
    assert json.loads((home / "registry.json").read_text())["_meta"]["1"]["schema"] == SCHEMA_VERSION
    snapshot = json.loads((home / "tables" / "runs.json").read_text())  # a plain tinydb file once compacted
    assert snapshot["_meta"]["1"]["schema"] == SCHEMA_VERSION and sorted(d["i"] for d in snapshot["runs"].values()) == list(range(5))


def test_concurrent_threads_lose_no_writes(home):
    registry = Registry(home)
    threads = [threading.Thread(target=lambda i=i: [registry.insert("runs", {"t": i, "k": k}) for k in range(10)])
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    docs = Registry(home).all("runs")
    assert len(docs) == 80 and len({d["id"] for d in docs}) == 80


def test_concurrent_processes_lose_no_writes(home):
    code = ("import sys; from lmctui.store import Registry; r = Registry(sys.argv[1]);"
            "[r.insert('runs', {'k': k}) for k in range(25)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(home)]) for _ in range(4)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    assert len(Registry(home).all("runs")) == 100


def test_runs_of_dead_processes_are_marked_interrupted(home):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    registry = Registry(home)
    orphan = registry.insert("runs", {"status": "running", "host": HOST, "pid": dead.pid})
    alive = registry.insert("runs", {"status": "running", "host": HOST, "pid": os.getpid()})
    elsewhere = registry.insert("runs", {"status": "running", "host": "another-host", "pid": 1})
    assert registry.mark_orphans_interrupted() == [orphan["id"]]
    assert registry.get("runs", orphan["id"])["status"] == "interrupted"
    assert registry.get("runs", alive["id"])["status"] == "running"
    assert registry.get("runs", elsewhere["id"])["status"] == "running"


def test_a_listing_reads_the_cached_documents_and_leaves_them_as_they_were(tmp_path):
    from lmctui.service.catalog import list_table

    registry = Registry(tmp_path / "home")
    doc = registry.insert("runs", {"kind": "trained", "status": "done", "width": 8, "config": {"model": {"width": 8}},
                                   "created": "2026-01-01T00:00:00+00:00"})
    rows = list_table(registry, "runs")
    rows[0]["width"] = 999
    assert registry.get("runs", doc["id"]) == doc  # a row is a new dict, never the cached document
    assert all(r is not d for r in registry.all("runs", copy=False) for d in rows)
