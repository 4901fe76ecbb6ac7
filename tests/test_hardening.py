"""Tampered registries and files: refused in one line, nothing outside the home touched."""

import json

import pytest

from conftest import registry_bytes


@pytest.fixture
def trained(cli, home):
    result = cli("train", "--width", "8", "--depth", "1", "--seeds", "0,1", "--epochs", "1", "--json")
    assert result.code == 0, result.stderr
    return [r["id"] for r in result.json["runs"]]


def edit_registry(home, change):
    """Change the runs table by hand, as a careless user would: its snapshot after a compaction."""
    from lmctui.store import Registry

    Registry(home).compact()
    path = home / "tables" / "runs.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def one_line_refusal(result):
    lines = result.stderr.strip().splitlines()
    return result.code == 2 and len(lines) == 1 and "Traceback" not in result.stderr


def test_an_id_that_is_a_path_never_becomes_one(cli, home, tmp_path, trained):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")

    def plant(data):
        doc = next(iter(data["runs"].values()))
        doc["id"] = "../../victim"

    edit_registry(home, plant)
    before = registry_bytes(home)
    for args in (["rm", ".."], ["show", ".."], ["rm", "../../victim"]):
        result = cli(*args)
        assert one_line_refusal(result), (args, result.stderr)
    assert (victim / "keep.txt").read_text() == "mine" and registry_bytes(home) == before


@pytest.mark.parametrize("damage", ["bytes", "list_table", "no_id"])
def test_malformed_registries_are_refused_in_one_line_and_left_alone(cli, home, trained, damage):
    edit_registry(home, lambda data: None)  # a snapshot to damage
    path = home / "tables" / "runs.json"
    if damage == "bytes":
        path.write_bytes(path.read_bytes()[:40] + b"\xff\xfe" + path.read_bytes()[40:])
    elif damage == "list_table":
        edit_registry(home, lambda data: data.__setitem__("runs", list(data["runs"].values())))
    else:
        edit_registry(home, lambda data: next(iter(data["runs"].values())).pop("id"))
    before = path.read_bytes()
    for args in (["list"], ["show", trained[0]], ["train", "--epochs", "1"], ["jobs"]):
        result = cli(*args)
        assert one_line_refusal(result) and "corrupt" in result.stderr, (args, result.stderr)
    assert path.read_bytes() == before


def test_a_run_without_its_config_is_refused_not_crashed_on(cli, home, trained):
    edit_registry(home, lambda data: [d.pop("config") for d in data["runs"].values()])
    result = cli("interp", *trained)
    assert one_line_refusal(result) and "config" in result.stderr


def test_damaged_metrics_lines_are_counted_not_fatal(cli, home, trained):
    metrics = home / "runs" / trained[0] / "metrics.jsonl"
    metrics.write_bytes(metrics.read_bytes() + b"\x00\xff garbage\n{\"epoch\": \"x\"}\n")
    shown = cli("show", trained[0], "--json")
    assert shown.code == 0 and shown.json["metrics_skipped"] == 2 and len(shown.json["metrics"]) == 1


def test_a_lock_that_is_a_folder_is_refused_by_commands_and_workers(cli, home, trained):
    assert cli("train", "--epochs", "1", "--queue").code == 0
    (home / ".lock").unlink()
    (home / ".lock").mkdir()
    result = cli("train", "--epochs", "1")
    assert one_line_refusal(result) and ".lock" in result.stderr, result.stderr
    worker = cli("worker", "--once")  # its start-up line, then the reason it stopped: no "queue empty", no traceback
    last = worker.stderr.strip().splitlines()[-1]
    assert worker.code == 2 and ".lock" in last and "Traceback" not in worker.stderr


def test_an_export_never_overwrites_the_registry(cli, home, trained):
    before = registry_bytes(home)
    result = cli("export", "runs", "--out", home / "registry.json")
    assert one_line_refusal(result) and registry_bytes(home) == before
