"""A home in schema 1 (everything in registry.json) is upgraded in place, once, keeping every document."""

import json

import pytest

from lmctui.errors import RegistryError
from lmctui.store import SCHEMA_VERSION, TABLES, Registry


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
    assert capsys.readouterr().err.count("upgraded the registry") == 1
    assert (home / "registry.json.bak-v1").read_bytes() == original
    assert json.loads((home / "registry.json").read_text())["_meta"]["1"]["schema"] == SCHEMA_VERSION == 2
    for table in TABLES:
        expected = {d["id"]: {k: v for k, v in d.items() if k not in ("config_a", "config_b")}
                    for d in (data.get(table) or {}).values()}
        assert {d["id"]: d for d in registry.all(table)} == expected
        assert {d["id"]: d for d in Registry(home).all(table)} == expected
    assert capsys.readouterr().err == ""  # the second open found schema 2: no upgrade, no message
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
