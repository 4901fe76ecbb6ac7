"""Old homes are upgraded in place, once, keeping every document: schema 1 (everything in
registry.json) and schema 2 (runs' configs in the runs table)."""

import json

import pytest

from lmctui.errors import RegistryError
from lmctui.store import SCHEMA_VERSION, TABLES, Registry
from lmctui.store.table_file import render_snapshot


def old_layout(home):
    """registry.json as schema 1 wrote it: tinydb tables keyed "1", "2", ..., ids inside."""
    runs = {str(i + 1): {"id": f"run{i:03d}", "schema": 1, "status": "done", "width": 8 * (i + 1),
                         "config": {"model": {"width": 8 * (i + 1)}}, "tags": ["a"]} for i in range(5)}
    curves = {"1": {"id": "cur001", "schema": 1, "run_a": "run000", "run_b": "run001", "alpha": [0, 0.5, 1],
                    "test_loss": [0.1, 0.4, 0.1], "config_a": {"model": {"width": 8}}, "config_b": {"model": {}}}}
    jobs = {"1": {"id": "job001", "schema": 1, "status": "running", "progress": 0.25, "message": "epoch 1/4",
                  "eta_s": 3.0, "created": "2026-01-01T00:00:00+00:00"}}
    data = {"_meta": {"1": {"schema": 1}}, "runs": runs, "curves": curves, "jobs": jobs, "sweeps": {}}
    home.mkdir()
    (home / "registry.json").write_text(json.dumps(data, indent=1))
    return data


def test_an_old_home_is_upgraded_once_and_keeps_every_document(home, capsys):
    data = old_layout(home)
    original = (home / "registry.json").read_bytes()
    registry = Registry(home)
    assert capsys.readouterr().err.count("upgraded the registry") == 2  # to schema 2, then 3
    assert (home / "registry.json.bak-v1").read_bytes() == original
    assert json.loads((home / "registry.json").read_text())["_meta"]["1"]["schema"] == SCHEMA_VERSION == 3
    for table in TABLES:
        expected = {d["id"]: {k: v for k, v in d.items() if k not in ("config_a", "config_b")}
                    for d in (data.get(table) or {}).values()}
        assert {d["id"]: d for d in registry.all(table)} == expected
        assert {d["id"]: d for d in Registry(home).all(table)} == expected
    assert capsys.readouterr().err == ""  # the second open found schema 3: no upgrade, no message
    made = registry.insert("runs", {"width": 1})
    assert made["id"] not in {d["id"] for t in data.values() for d in t.values() if "id" in d}
    assert (home / "registry.json.bak-v1").read_bytes() == original


def test_an_upgrade_interrupted_before_its_manifest_is_redone(home):
    data = old_layout(home)
    tables = home / "tables"
    tables.mkdir()
    (tables / "runs.jsonl").write_text(json.dumps({"g": 1, "ops": [{"op": "remove", "id": "run000"}]}) + "\n")
    (tables / "runs.json").write_text("{half a snap")
    registry = Registry(home)
    assert {d["id"] for d in registry.all("runs")} == {d["id"] for d in data["runs"].values()}


@pytest.mark.parametrize("content", ['{"runs": {"1": {"id": "abc"', '{"runs": {"1": {"no_id": 1}}}',
                                     '{"runs": {"1": {"id": "a"}, "2": {"id": "a"}}}', "[]", "\udcff"])
def test_a_damaged_old_registry_is_refused_and_not_upgraded(home, content):
    home.mkdir()
    path = home / "registry.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="corrupt"):
        Registry(home)
    assert path.read_bytes() == before and sorted(p.name for p in home.iterdir()) == ["registry.json"]


def test_a_future_schema_is_refused_and_left_untouched(home):
    home.mkdir()
    path = home / "registry.json"
    path.write_text(json.dumps({"_meta": {"1": {"schema": SCHEMA_VERSION + 1}}, "layout": "from the future"}))
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="newer"):
        Registry(home)
    assert path.read_bytes() == before and sorted(p.name for p in home.iterdir()) == ["registry.json"]


def schema_2_home(home):
    """A schema-2 home: configs in the runs table, one changed by a journal line, one run with a
    config.json of its own already (a derived run's, which says more), one id that is no path."""
    runs = {rid: {"id": rid, "schema": 2, "status": "done", "config": {"model": {"width": w}}}
            for rid, w in (("aaaaaa", 8), ("bbbbbb", 16), ("cccccc", 32), ("../x", 4))}
    (home / "tables").mkdir(parents=True)
    (home / "registry.json").write_text(json.dumps({"_meta": {"1": {"schema": 2}}, "layout": "v2"}))
    (home / "tables" / "runs.json").write_bytes(render_snapshot("runs", 2, 1, runs))
    line = {"g": 1, "ops": [{"op": "update", "id": "bbbbbb", "fields": {"config": {"model": {"width": 17}}}}]}
    (home / "tables" / "runs.jsonl").write_text(json.dumps(line) + "\n")
    (home / "runs" / "cccccc").mkdir(parents=True)
    (home / "runs" / "cccccc" / "config.json").write_text(json.dumps({"model": {"width": 32}, "derived": {}}))
    return {"aaaaaa": {"model": {"width": 8}}, "bbbbbb": {"model": {"width": 17}},
            "cccccc": {"model": {"width": 32}, "derived": {}}, "../x": {"model": {"width": 4}}}


def test_a_schema_2_home_moves_each_runs_config_to_its_folder_once_with_a_backup(home, capsys):
    configs = schema_2_home(home)
    originals = {name: (home / "tables" / name).read_bytes() for name in ("runs.json", "runs.jsonl")}
    registry = Registry(home)
    assert capsys.readouterr().err.count("upgraded the registry") == 1
    for name, raw in originals.items():
        assert (home / "tables" / f"{name}.bak-v2").read_bytes() == raw
    assert json.loads((home / "registry.json").read_text())["_meta"]["1"]["schema"] == 3
    for reader in (registry, Registry(home)):
        assert {d["id"]: d.get("config") for d in reader.all("runs")} == {
            "aaaaaa": None, "bbbbbb": None, "cccccc": None, "../x": configs["../x"]}  # a bad id is never a path
        assert {rid: reader.get("runs", rid)["config"] for rid in configs} == configs
    assert not (home / "runs" / "..").joinpath("x").exists()
    assert (home / "tables" / "runs.json").read_bytes().count(b'"config"') == 1  # the bad id's only
    assert capsys.readouterr().err == ""


def test_runs_written_after_the_upgrade_keep_their_config_in_the_folder(home):
    registry = Registry(home)
    [run] = registry.insert_many("runs", [{"status": "running", "config": {"model": {"width": 8}}}])
    registry.update("runs", run["id"], {"status": "done", "config": {"model": {"width": 9}}})
    assert "config" not in Registry(home).all("runs")[0]
    assert registry.get("runs", run["id"])["config"] == registry.run_config(run["id"]) == {"model": {"width": 9}}
    assert json.loads((home / "runs" / run["id"] / "config.json").read_text()) == {"model": {"width": 9}}
    assert b"width" not in b"".join(p.read_bytes() for p in (home / "tables").iterdir())
