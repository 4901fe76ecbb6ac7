"""The journaled tables against a plain dict: random operations, torn lines, compaction, damage."""

import json
import random
import subprocess
import sys
from contextlib import nullcontext

import pytest
from tinydb import Query

from lmctui.errors import RegistryError
from lmctui.store import TABLES, Registry
from lmctui.store import table_file
from lmctui.store.journal_storage import JournaledDB, JournaledStorage


@pytest.fixture
def tiny_compactions(monkeypatch):
    """Compact after a few hundred bytes, so short tests cross many generations."""
    monkeypatch.setattr(table_file, "COMPACT_MIN_BYTES", 600)


def files_of(home):
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def random_fields(rng):
    return {rng.choice("abcde"): rng.choice([0, 1.5, "x", None, [1, 2], {"n": rng.randint(0, 9)}])
            for _ in range(rng.randint(1, 3))}


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_match_a_plain_dict(home, tiny_compactions, seed):
    rng = random.Random(seed)
    registry = Registry(home)
    oracle = {table: {} for table in TABLES}  # table -> id -> document, changed by plain dict operations
    for step in range(150):
        table = rng.choice(("runs", "curves", "jobs"))
        ids = list(oracle[table])
        roll = rng.random()
        if roll < 0.35 or not ids:
            docs = registry.insert_many(table, [{"step": step, **random_fields(rng)} for _ in range(rng.randint(1, 3))])
            for doc in docs:
                oracle[table][doc["id"]] = doc
        elif roll < 0.65:
            target = rng.choice(ids + ["zzzzzz"])  # an id that is not there changes nothing
            fields = random_fields(rng)
            registry.update(table, target, fields)
            if target in oracle[table]:
                oracle[table][target] = {**oracle[table][target], **fields}
        elif roll < 0.75:
            changes = {i: random_fields(rng) for i in rng.sample(ids, min(len(ids), 3))}
            registry.update_many(table, changes)
            for doc_id, fields in changes.items():
                oracle[table][doc_id] = {**oracle[table][doc_id], **fields}
        elif roll < 0.85:
            old, new = rng.choice(ids), f"re{step:04d}"
            registry.update(table, old, {"id": new, "moved": True})
            oracle[table][new] = {**oracle[table].pop(old), "id": new, "moved": True}
        elif roll < 0.97:
            target = rng.choice(ids)
            registry.remove(table, target)
            del oracle[table][target]
        else:
            registry.compact(table)
        if step % 25 == 0:
            assert _by_table(Registry(home)) == oracle  # a fresh reader: snapshot plus journal replay
    assert _by_table(registry) == oracle and _by_table(Registry(home)) == oracle
    every_id = [i for table in oracle.values() for i in table]
    assert len(every_id) == len(set(every_id))  # unique across tables
    registry.compact()
    assert _by_table(Registry(home)) == oracle


def _by_table(registry):
    return {table: {d["id"]: d for d in registry.all(table)} for table in TABLES}


def test_a_torn_last_line_is_ignored_then_cut_off(home):
    registry = Registry(home)
    kept = registry.insert_many("runs", [{"k": k} for k in range(3)])
    journal = home / "tables" / "runs.jsonl"
    whole = json.dumps({"g": 0, "ops": [{"op": "set", "id": "abcdef", "doc": {"id": "abcdef"}}]}).encode()
    for torn in (whole[:17], whole, b"\x00\x00\x00"):  # a write cut short, a line without its newline, zeros
        with open(journal, "ab") as f:
            f.write(torn)
        assert {d["id"] for d in Registry(home).all("runs")} == {d["id"] for d in kept}
        kept.append(Registry(home).insert("runs", {"after": repr(torn)}))
        lines = journal.read_bytes().split(b"\n")
        assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])
    assert sorted(d["id"] for d in Registry(home).all("runs")) == sorted(d["id"] for d in kept)


def test_compaction_keeps_every_document_and_starts_an_empty_journal(home):
    registry = Registry(home)
    docs = registry.insert_many("runs", [{"k": k, "config": {"w": [k] * 3}} for k in range(200)])
    for doc in docs[::3]:
        registry.update("runs", doc["id"], {"k": -doc["k"]})
    for doc in docs[1::7]:
        registry.remove("runs", doc["id"])
    before = {d["id"]: d for d in registry.all("runs")}
    registry.compact("runs")
    assert (home / "tables" / "runs.jsonl").read_bytes() == b""
    snapshot = json.loads((home / "tables" / "runs.json").read_bytes())  # plain JSON, no journal needed
    assert snapshot["runs"] == before == {d["id"]: d for d in Registry(home).all("runs")}


def test_lines_of_an_older_generation_are_skipped(home):
    """A crash between writing the new snapshot and emptying the journal leaves the old
    generation's lines behind: they are in the snapshot already and must not apply twice."""
    registry = Registry(home)
    doc = registry.insert("runs", {"n": 1})
    registry.update("runs", doc["id"], {"n": 2})
    journal = home / "tables" / "runs.jsonl"
    stale = journal.read_bytes()
    registry.compact("runs")
    registry.update("runs", doc["id"], {"n": 3})
    journal.write_bytes(stale + journal.read_bytes())
    assert Registry(home).get("runs", doc["id"])["n"] == 3


def test_a_reader_sees_another_process_write_and_compact(home):
    reader = Registry(home)
    first = reader.insert("runs", {"n": 0})
    assert [d["id"] for d in reader.all("runs")] == [first["id"]]
    token = reader.version("runs")
    code = ("import sys; from lmctui.store import Registry; r = Registry(sys.argv[1]);"
            "print(r.insert('runs', {'n': 1})['id']); r.compact();"
            "print(r.insert('runs', {'n': 2})['id'])")
    out = subprocess.run([sys.executable, "-c", code, str(home)], capture_output=True, text=True, check=True)
    assert reader.version("runs") != token
    assert {d["id"] for d in reader.all("runs")} == {first["id"], *out.stdout.split()}


def test_change_tokens_move_only_with_their_table(home):
    registry = Registry(home)
    run = registry.insert("runs", {"n": 0})
    job = registry.insert("jobs", {"status": "running"})
    seen = registry.changed({})
    assert set(seen) == set(TABLES) and registry.changed(seen) == {}
    registry.insert("curves", {"n": 1})
    assert set(registry.changed(seen)) == {"curves"}
    seen.update(registry.changed(seen))
    registry.update("runs", run["id"], {"n": 1})
    assert set(registry.changed(seen)) == {"runs"}
    seen.update(registry.changed(seen))
    registry.write_progress(job["id"], 0.5, "half")
    assert set(registry.changed(seen)) == {"jobs"}


def test_damaged_files_are_refused_and_left_untouched(home):
    registry = Registry(home)
    registry.insert_many("runs", [{"k": k} for k in range(3)])
    journal = home / "tables" / "runs.jsonl"
    good = journal.read_bytes()
    for damage in (b"not json\n", b'{"g": 0, "ops": [{"op": "explode", "id": "x"}]}\n', b"[1]\n"):
        journal.write_bytes(good + damage + good)  # a complete bad line, then more: not a torn tail
        before = files_of(home)
        with pytest.raises(RegistryError, match="corrupt"):
            Registry(home).all("runs")
        with pytest.raises(RegistryError, match="corrupt"):
            Registry(home).insert("runs", {"k": 9})
        assert files_of(home) == before
    journal.write_bytes(good)
    registry.compact("runs")
    snapshot = home / "tables" / "runs.json"
    data = json.loads(snapshot.read_bytes())
    for tamper in ("id", "future"):
        changed = json.loads(json.dumps(data))
        if tamper == "id":
            next(iter(changed["runs"].values()))["id"] = "../../x"
        else:
            changed["_meta"]["1"]["schema"] += 1
        snapshot.write_text(json.dumps(changed))
        before = files_of(home)
        with pytest.raises(RegistryError, match="corrupt" if tamper == "id" else "newer"):
            Registry(home).insert("runs", {"k": 9})
        assert files_of(home) == before


def test_tinydb_queries_and_generic_updates_go_through_the_journal(tmp_path):
    def open_db():
        return JournaledDB(storage=JournaledStorage, folder=tmp_path, tables=("t",), schema=2, locked=nullcontext)

    table = open_db().table("t")
    table.insert_multiple([{"id": f"d{k}", "k": k} for k in range(6)])
    oracle = {f"d{k}": {"id": f"d{k}", "k": k} for k in range(6)}
    table.update({"big": True}, Query().k >= 4)
    table.update(lambda doc: doc.__setitem__("k", doc["k"] * 10), Query().k == 1)
    table.remove(Query().k == 2)
    for doc_id in ("d4", "d5"):
        oracle[doc_id]["big"] = True
    oracle["d1"]["k"] = 10
    del oracle["d2"]
    reopened = open_db().table("t")
    assert {d.doc_id: dict(d) for d in reopened.all()} == oracle
    assert reopened.get(doc_id="d3") == oracle["d3"] and reopened.search(Query().big == True) == [oracle["d4"], oracle["d5"]]  # noqa: E712
    table.truncate()
    assert open_db().table("t").all() == []
