"""Point reads (store/table_scan.py) against a full parse of the same files: random tables with
journal sets, updates, removes, id moves, compaction generations and torn lines; prefixes that
are unique, ambiguous and absent; the running documents; the newest page and the count."""

import os
import random
import subprocess
import sys

import pytest

from lmctui.errors import UserError
from lmctui.service.catalog import list_page
from lmctui.store import Registry, table_file, table_scan
from lmctui.store.ids import ALPHABET, resolve_prefix
from lmctui.store.registry import HOST, SCHEMA_VERSION
from lmctui.store.table_file import TableFile


@pytest.fixture
def small_compactions(monkeypatch):
    """Compact after a few KB, so a test crosses several generations."""
    monkeypatch.setattr(table_file, "COMPACT_MIN_BYTES", 3000)


def fresh_file(home, table="runs") -> TableFile:
    """The table as a process that has not read it sees it."""
    return TableFile(home / "tables", table, SCHEMA_VERSION)


def full_parse(home, table="runs") -> dict:
    """The oracle: every document, parsed the way every reader always did."""
    return dict(fresh_file(home, table).refresh())


def random_table(home, rng, steps=120) -> Registry:
    """Random inserts (some running), updates, status changes, removes and id moves, with compactions."""
    registry = Registry(home)
    for step in range(steps):
        ids = list(registry.all("runs"))
        ids = [d["id"] for d in ids]
        roll = rng.random()
        if roll < 0.4 or not ids:
            docs = [{"step": step, "status": rng.choice(["done", "running", "failed"]), "created": f"t{step:04d}",
                     "host": HOST, "pid": rng.choice([1, os.getpid()])} for _ in range(rng.randint(1, 4))]
            registry.insert_many("runs", docs)
        elif roll < 0.65:
            registry.update("runs", rng.choice(ids), {"status": rng.choice(["done", "running"]), "n": step})
        elif roll < 0.8:
            registry.remove("runs", rng.choice(ids))
        elif roll < 0.9:
            new = "".join(rng.choice(ALPHABET) for _ in range(6))
            if not registry._id_taken(new):
                registry.update("runs", rng.choice(ids), {"id": new, "moved": step})
        elif roll < 0.95:
            registry.compact("runs")
        else:  # tinydb's generic write: a `set` of a document that is there
            registry._table("runs").update({"generic": step}, lambda d: d.get("step", 0) % 3 == 0)
    return registry


def prefixes(rng, docs) -> list[str]:
    ids = list(docs)
    picked = ["", "z", "zzzzzz", "qqq"] + [i[:k] for i in rng.sample(ids, min(6, len(ids))) for k in (1, 2, 6)]
    return picked + [rng.choice(ALPHABET) for _ in range(4)] + [i.upper() for i in ids[:2]] + [" " + i for i in ids[:1]]


@pytest.mark.parametrize("seed", range(8))
def test_point_reads_agree_with_the_full_parse(home, small_compactions, seed):
    rng = random.Random(seed)
    random_table(home, rng)
    if seed % 2:  # a writer killed mid-line: its torn line is no part of the table
        with open(home / "tables" / "runs.jsonl", "ab") as f:
            f.write(b'{"g":1,"ops":[{"id":"abcdef","op":"remove"')
    full = full_parse(home)
    file = fresh_file(home)
    for prefix in {p for p in prefixes(rng, full) if p}:
        key = prefix.strip().lower()
        expected = {i: d for i, d in full.items() if i.startswith(prefix)}
        assert table_scan.with_prefix(file, prefix) == (expected if table_scan.PLAIN.fullmatch(prefix) else None)
        if table_scan.PLAIN.fullmatch(key):
            assert table_scan.with_ids(file, [key]) == {i: d for i, d in full.items() if i == key}
    assert table_scan.running(file) == {i: d for i, d in full.items() if d.get("status") == "running"}
    for n in (1, 3, 7, len(full), len(full) + 5):
        assert table_scan.newest(file, n) == (list(full.values())[-n:], len(full))
    assert not file.loaded, "a point read keeps no table in memory"


@pytest.mark.parametrize("seed", range(4))
def test_resolve_and_get_answer_as_the_loaded_table_does(home, small_compactions, seed):
    rng = random.Random(100 + seed)
    random_table(home, rng, steps=200)
    full = full_parse(home)
    loaded = Registry(home)
    loaded.all("runs")  # the in-memory path: what a long-lived process does
    for prefix in prefixes(rng, full):
        cold = Registry(home)
        try:
            expected = loaded.resolve("runs", prefix)
        except UserError as err:
            with pytest.raises(UserError) as raised:
                cold.resolve("runs", prefix)
            assert str(raised.value) == str(err)
            with pytest.raises(UserError) as brute:
                resolve_prefix(full, prefix)
            assert str(brute.value) == str(err), "the same words as a lookup over every id"
        else:
            assert cold.resolve("runs", prefix) == expected
            assert expected["id"] == resolve_prefix(full, prefix) or prefix in full
        assert Registry(home).get("runs", prefix) == loaded.get("runs", prefix)
        if prefix == "" or table_scan.PLAIN.fullmatch(prefix):  # else (spaces, say) the whole table is read
            assert not cold._table("runs").file.loaded


def test_a_prefix_search_never_matches_the_table_name_line_or_the_meta(home):
    registry = Registry(home)
    made = registry.insert_many("runs", [{"n": k} for k in range(3)])
    registry.compact()
    for prefix in ("r", "ru", "runs", "_", "_meta"):  # random ids may start so: exactly those are found
        found = table_scan.with_prefix(fresh_file(home), prefix)
        assert set(found) == {d["id"] for d in made if d["id"].startswith(prefix)}


def test_a_snapshot_laid_out_by_hand_falls_back_to_the_full_read(home):
    registry = Registry(home)
    made = registry.insert_many("runs", [{"n": k} for k in range(5)])
    registry.compact()
    path = home / "tables" / "runs.json"
    import json

    path.write_text(json.dumps(json.loads(path.read_text()), indent=2))  # valid tinydb JSON, another layout
    file = fresh_file(home)
    assert table_scan.with_prefix(file, made[0]["id"][:3]) is None and table_scan.newest(file, 2) is None
    assert Registry(home).resolve("runs", made[0]["id"])["n"] == 0


def test_orphans_are_exactly_the_running_documents_of_dead_owners(home, small_compactions):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid, alive_pid = int(dead.stdout), os.getppid()
    rng = random.Random(7)
    registry = Registry(home)
    for step in range(80):
        owner = rng.choice([{"host": HOST, "pid": dead_pid}, {"host": HOST, "pid": alive_pid},
                            {"host": "elsewhere", "pid": dead_pid}, {"host": HOST}])
        table = rng.choice(["runs", "jobs"])
        doc = registry.insert(table, {"status": rng.choice(["running", "done"]), **owner})
        if rng.random() < 0.3:  # a running state written by an update, in the journal
            registry.update(table, doc["id"], {"status": "running"})
        if rng.random() < 0.1:
            registry.compact()
    expected = sorted(i for table in ("runs", "jobs") for i, d in full_parse(home, table).items()
                      if d.get("status") == "running" and d.get("host") == HOST and d.get("pid") == dead_pid)
    assert expected, "the random table has orphans to find"
    assert sorted(Registry(home).mark_orphans_interrupted()) == expected
    after = {**full_parse(home, "runs"), **full_parse(home, "jobs")}
    assert all(after[i]["status"] == "interrupted" for i in expected)
    assert Registry(home).mark_orphans_interrupted() == []


@pytest.mark.parametrize("seed", range(3))
def test_a_listing_page_is_the_newest_n_and_its_total_is_exact(home, small_compactions, seed):
    random_table(home, random.Random(200 + seed))
    full = full_parse(home)
    everything, total = list_page(Registry(home), "runs", limit=0)
    assert total == len(everything) == len(full)
    for n in (1, 5, 20, len(full) + 3):
        page, counted = list_page(Registry(home), "runs", limit=n)
        added_last = sorted(list(full.values())[-n:], key=lambda d: d["created"])
        assert counted == len(full) and [r["id"] for r in page] == [d["id"] for d in added_last]
        if [d["created"] for d in full.values()] == sorted(d["created"] for d in full.values()):
            assert page == everything[-n:], "with runs added in the order they were made: the listing's tail"


def test_list_json_pages_and_says_how_many_of_how_many(cli, home, monkeypatch):
    from lmctui import cli as cli_module

    monkeypatch.setattr(cli_module, "JSON_PAGE", 4)
    Registry(home).insert_many("runs", [{"status": "done", "created": f"2026-01-01T00:00:{k:02d}"} for k in range(9)])
    everything = cli("list", "--json", "--limit", "0")
    page = cli("list", "--json")
    assert len(everything.json["runs"]) == 9 and page.json["runs"] == everything.json["runs"][-4:]
    assert "the newest 4 of 9 runs" in page.stderr and "--limit 0" in page.stderr
    assert everything.stderr.strip() == ""


def test_point_reads_import_no_torch(home):
    Registry(home).insert_many("runs", [{"status": "running", "host": "elsewhere"}])
    code = ("import sys; from lmctui.service.catalog import open_registry, list_page; "
            f"r = open_registry({str(home)!r}); list_page(r, 'runs', limit=5); r.resolve('runs', r.newest('runs', 1)[0][0]['id']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_many_lookups_in_one_process_read_the_table_once(home):
    """Past POINT_READS lookups of one table, the process reads it whole and answers from memory."""
    from lmctui.store.registry import POINT_READS

    made = Registry(home).insert_many("runs", [{"n": k} for k in range(POINT_READS + 3)])
    registry = Registry(home)
    got = []
    for k, doc in enumerate(made):
        got.append(registry.get("runs", doc["id"])["n"])
        assert registry._table("runs").file.loaded == (k >= POINT_READS)
    assert got == list(range(len(made)))
