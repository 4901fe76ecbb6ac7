"""The first half of lmctui-cli, driven in-process through CliRunner."""

import csv
import json

import pytest

from conftest import registry_bytes

RUN_KEYS = {"id", "dataset", "arch", "width", "depth", "seed", "epochs", "status", "train_loss", "test_loss", "test_acc"}


@pytest.fixture
def trained(cli):
    result = cli("train", "--dataset", "moons", "--width", "16", "--seeds", "0,1", "--epochs", "20",
                 "--tag", "first", "--json")
    assert result.code == 0, result.stderr
    return result.json["runs"]


def test_train_acceptance_two_moons_runs_above_80_percent(trained):
    assert len(trained) == 2
    for run in trained:
        assert RUN_KEYS <= run.keys()
        assert run["status"] == "done" and run["test_acc"] > 0.8
    assert [r["seed"] for r in trained] == [0, 1]


def test_list_filters_by_field_and_tag(cli, trained):
    cli("train", "--width", "8", "--seeds", "3", "--epochs", "1", "--json")
    everything = cli("list", "--json").json["runs"]
    assert len(everything) == 3
    assert {r["id"] for r in cli("list", "--tag", "first", "--json").json["runs"]} == {r["id"] for r in trained}
    assert [r["seed"] for r in cli("list", "--filter", "width=8", "--json").json["runs"]] == [3]
    assert [r["seed"] for r in cli("list", "--filter", "seed=1", "--filter", "width=16", "--json").json["runs"]] == [1]
    assert cli("list", "--filter", "colour=red").code == 2


def test_show_returns_record_config_and_history(cli, trained):
    shown = cli("show", trained[0]["id"][:4], "--json").json
    assert shown["run"]["id"] == trained[0]["id"]
    assert shown["config"]["model"]["width"] == 16
    assert [m["epoch"] for m in shown["metrics"]] == list(range(1, 21))
    assert shown["metrics"][-1]["test_acc"] == pytest.approx(trained[0]["test_acc"])


def test_rm_removes_the_record_and_its_folder(cli, home, trained):
    target = trained[0]["id"]
    assert (home / "runs" / target).is_dir()
    assert cli("rm", target, "--json").json["removed"]["id"] == target
    assert not (home / "runs" / target).exists()
    assert [r["id"] for r in cli("list", "--json").json["runs"]] == [trained[1]["id"]]


def test_export_runs_writes_one_csv_row_per_run(cli, trained, tmp_path):
    out = tmp_path / "runs.csv"
    assert cli("export", "runs", "--out", out).code == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == [r["id"] for r in trained]
    assert float(rows[0]["test_acc"]) == pytest.approx(trained[0]["test_acc"])
    assert rows[0]["tags"] == "first"


def test_init_seed_shares_the_init_and_init_from_spawns(cli, home):
    result = cli("train", "--width", "8", "--seeds", "0-1", "--init-seed", "5", "--epochs", "2",
                 "--save-epochs", "0,1", "--json")
    assert result.code == 0, result.stderr
    runs = result.json["runs"]
    assert [r["init_seed"] for r in runs] == [5, 5] and [r["data_seed"] for r in runs] == [0, 1]
    a, b = (home / "runs" / r["id"] / "checkpoints" / "epoch_0.safetensors" for r in runs)
    assert a.read_bytes() == b.read_bytes()
    child = cli("train", "--width", "8", "--seeds", "2", "--epochs", "2", "--init-from", f"{runs[0]['id']}@1", "--json")
    assert child.code == 0, child.stderr
    assert child.json["runs"][0]["parent"] == f"{runs[0]['id']}@1"
    assert cli("train", "--width", "8", "--epochs", "1", "--init-from", f"{runs[0]['id']}@2").code == 2
    assert cli("train", "--width", "9", "--epochs", "1", "--init-from", runs[0]["id"]).code == 2


BAD_TRAIN_ARGS = [
    (["--dataset", "imagenet"], "--dataset"),
    (["--arch", "transformer"], "--arch"),
    (["--width", "0"], "--width"),
    (["--width", "-3"], "--width"),
    (["--seeds", "1-x"], "--seeds"),
    (["--seeds", "5-2"], "--seeds"),
    (["--optimizer", "rmsprop"], "optimizer"),
    (["--lr", "0"], "--lr"),
    (["--epochs", "0"], "--epochs"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/folder"], "does not exist"),
    (["--dataset", "mnist"], "--data-dir"),
    (["--device", "tpu"], "--device"),
    (["--init-from", "zzzzzz"], "no run"),
    (["--save-epochs", "0,99"], "--save-epochs"),
]


@pytest.mark.parametrize("args,needle", BAD_TRAIN_ARGS, ids=[a[0][1] + a[0][0] for a in BAD_TRAIN_ARGS])
def test_bad_train_input_exits_2_with_one_line_and_changes_nothing(cli, home, trained, args, needle):
    before = registry_bytes(home)
    result = cli("train", "--epochs", "1", *args) if "--epochs" not in args else cli("train", *args)
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr
    assert registry_bytes(home) == before


def test_unreadable_data_dir_is_refused(cli, home, tmp_path):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user that reads any folder")
        result = cli("train", "--dataset", "mnist", "--data-dir", locked)
        assert result.code == 2 and "not readable" in result.stderr
    finally:
        locked.chmod(0o755)


def test_unknown_and_ambiguous_prefixes_exit_2(cli, home, trained):
    from lmctui.store import Registry

    registry = Registry(home)
    for run, new_id in zip(trained, ("abc234", "abd567")):
        registry.update("runs", run["id"], {"id": new_id})
    before = registry_bytes(home)
    for args in (["show", "qqqq"], ["rm", "qqqq"], ["show", "ab"], ["rm", "ab"]):
        result = cli(*args)
        assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "ambiguous" in cli("rm", "ab").stderr
    assert registry_bytes(home) == before
    assert cli("show", "abd", "--json").json["run"]["id"] == "abd567"


def test_home_that_is_a_file_exits_2(cli, tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    for args in (["list"], ["train", "--epochs", "1"]):
        result = cli(*args, "--home", path, use_home=False)
        assert result.code == 2 and "is a file" in result.stderr
    assert path.read_text() == ""


def test_corrupt_registry_exits_2_and_is_not_overwritten(cli, home):
    home.mkdir()
    (home / "registry.json").write_text("{not json")
    for args in (["list"], ["train", "--epochs", "1"]):
        result = cli(*args)
        assert result.code == 2 and "corrupt" in result.stderr and "registry.json" in result.stderr
    assert (home / "registry.json").read_text() == "{not json"


@pytest.mark.slow
def test_digits_mlp_width_64_beats_90_percent_in_15_epochs(cli):
    result = cli("train", "--dataset", "digits", "--width", "64", "--epochs", "15", "--json")
    assert result.code == 0, result.stderr
    assert result.json["runs"][0]["test_acc"] > 0.9


@pytest.mark.parametrize("vectorize", ["--vectorize", "--no-vectorize"])
def test_diverging_runs_are_marked_failed_and_exit_1(cli, home, vectorize):
    result = cli("train", "--lr", "1e6", "--seeds", "0,1", "--epochs", "2", vectorize, "--json")
    assert result.code == 1
    runs = strict_json(result.stdout)["runs"]
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert all("diverged" in r["error"] for r in runs)
    strict_json(cli("list", "--json").stdout)  # no bare NaN anywhere a parser reads
    for run in runs:
        for line in (home / "runs" / run["id"] / "metrics.jsonl").read_text().splitlines():
            strict_json(line)


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as strict parsers (jq, JavaScript) do."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_vectorized_and_sequential_seeds_give_the_same_runs(cli):
    args = ["train", "--dataset", "digits", "--width", "32", "--seeds", "0-2", "--epochs", "3", "--json"]
    together = cli(*args).json["runs"]
    alone = cli(*args, "--no-vectorize").json["runs"]
    for a, b in zip(together, alone):
        assert a["seed"] == b["seed"]
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-4)


def test_batchnorm_seeds_fall_back_to_one_at_a_time(cli):
    result = cli("train", "--dataset", "digits", "--arch", "vgg", "--width", "1", "--norm", "batch",
                 "--seeds", "0,1", "--epochs", "1", "--json")
    assert result.code == 0, result.stderr
    assert [r["status"] for r in result.json["runs"]] == ["done", "done"]


@pytest.mark.slow
def test_demo_registry_is_made_on_first_use_only(home):
    from lmctui.service.catalog import open_registry
    from lmctui.service.training import ensure_demo

    registry = open_registry(home)
    assert ensure_demo(registry) == 4
    runs = registry.all("runs")
    trained = [r for r in runs if r["kind"] == "trained"]
    assert len(trained) == 4 and all(r["status"] == "done" and r["test_acc"] > 0.8 for r in runs)
    assert {c["method"] for c in registry.all("curves")} == {"naive", "weight"}
    assert ensure_demo(registry) == 0 and len(registry.all("runs")) == len(runs)


def test_config_json_is_enough_to_train_the_run_again(cli, home):
    from safetensors.torch import load_file

    first = cli("train", "--dataset", "digits", "--width", "16", "--seeds", "3", "--epochs", "2", "--lr", "0.1",
                "--weight-decay", "0.001", "--schedule", "cosine", "--no-vectorize", "--json")
    assert first.code == 0, first.stderr
    original = first.json["runs"][0]["id"]
    again = cli("train", "--config", home / "runs" / original / "config.json", "--json")
    assert again.code == 0, again.stderr
    copy = again.json["runs"][0]
    assert copy["seed"] == 3 and copy["lr"] == 0.1 and copy["epochs"] == 2
    weights = [load_file(home / "runs" / run / "weights.safetensors") for run in (original, copy["id"])]
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])
    assert cli("train", "--config", home / "nope.json").code == 2


@pytest.mark.parametrize("vectorize", ["--vectorize", "--no-vectorize"])
def test_a_diverging_run_stops_at_once_and_keeps_its_finite_checkpoints(cli, home, vectorize):
    result = cli("train", "--lr", "1e6", "--seeds", "0,1", "--epochs", "50", "--save-epochs", "0,40", vectorize,
                 "--json")
    assert result.code == 1
    for run in strict_json(result.stdout)["runs"]:
        lines = (home / "runs" / run["id"] / "metrics.jsonl").read_text().splitlines()
        assert len(lines) < 50 and run["epochs_done"] == len(lines)  # stopped at the first non-finite epoch
        assert run["status"] == "failed" and "checkpoints kept: [0]" in run["error"]
        from lmctui.service.catalog import open_registry
        from lmctui.store.runfiles import file_sha256

        doc = open_registry(home).get("runs", run["id"])
        kept = home / "runs" / run["id"] / "checkpoints" / "epoch_0.safetensors"
        assert doc["checkpoints"] == [0] and file_sha256(kept) == doc["checkpoint_sha256"]["0"]
    assert cli("train", "--epochs", "1", "--init-from", f"{run['id']}@0").code == 2  # a failed run spawns nothing
