"""Queued jobs through the headless worker, and sweeps, through the CLI."""

import csv

import pytest

pytestmark = pytest.mark.slow


def test_queued_training_runs_in_the_headless_worker(cli):
    queued = cli("train", "--width", "8", "--seeds", "0,1", "--epochs", "2", "--queue", "--json")
    assert queued.code == 0, queued.stderr
    job = queued.json["job"]
    assert job["status"] == "queued" and cli("list", "--json").json["runs"] == []
    bad = cli("train", "--dataset", "imagenet", "--queue")
    assert bad.code == 2 and len(cli("jobs", "--json").json["jobs"]) == 1
    done = cli("worker", "--once", "--json")
    assert done.code == 0, done.stderr
    assert [j["status"] for j in done.json["jobs"]] == ["done"]
    runs = cli("list", "--json").json["runs"]
    assert sorted(r["seed"] for r in runs) == [0, 1] and all(r["status"] == "done" for r in runs)
    assert sorted(done.json["jobs"][0]["result"]["runs"]) == sorted(r["id"] for r in runs)


def test_jobs_cancel_and_requeue_from_the_cli(cli):
    job = cli("train", "--width", "8", "--epochs", "1", "--queue", "--json").json["job"]
    assert cli("jobs", "--cancel", job["id"], "--json").json["jobs"][0]["status"] == "cancelled"
    assert cli("jobs", "--cancel", job["id"]).code == 2
    assert cli("jobs", "--requeue", job["id"], "--json").json["jobs"][0]["status"] == "queued"


def test_sweep_reports_rows_and_a_summary_and_reuses_runs(cli, tmp_path):
    args = ["sweep", "--dataset", "moons", "--widths", "4,16", "--seeds", "3", "--epochs", "5",
            "--methods", "naive,weight", "--points", "5", "--json"]
    result = cli(*args)
    assert result.code == 0, result.stderr
    doc = result.json
    assert len(doc["rows"]) == 2 * 3 * 2  # widths x pairs of 3 seeds x methods
    for row in doc["rows"]:
        assert {"width", "method", "loss_barrier_test", "error_barrier_test", "loss_barrier_train",
                "error_barrier_train"} <= row.keys()
    summary = {(s["value"], s["method"]): s for s in doc["summary"]}
    naive16 = [r["loss_barrier_test"] for r in doc["rows"] if r["width"] == 16 and r["method"] == "naive"]
    assert summary[(16, "naive")]["loss_barrier_test_mean"] == pytest.approx(sum(naive16) / 3)
    assert {"average_test_acc", "endpoint_test_acc_mean", "loss_barrier_test_std"} <= summary[(4, "weight")].keys()
    trained = len([r for r in cli("list", "--json").json["runs"] if r["kind"] == "trained"])
    assert trained == 6
    again = cli(*args)
    assert again.code == 0
    assert len([r for r in cli("list", "--json").json["runs"] if r["kind"] == "trained"]) == 6  # reused
    out = tmp_path / "sweep.csv"
    assert cli("export", "sweep", doc["sweep"], "--out", out).code == 0
    assert len(list(csv.DictReader(out.open()))) == len(doc["rows"])


def test_sweep_over_another_axis_and_bad_sweeps(cli, home):
    result = cli("sweep", "--sweep", "optimizer=sgd,adam", "--width", "8", "--seeds", "2", "--epochs", "2",
                 "--methods", "naive", "--points", "3", "--json")
    assert result.code == 0, result.stderr
    assert [s["value"] for s in result.json["summary"]] == ["sgd", "adam"]
    for args, needle in ((["--seeds", "1"], "--seeds"), (["--sweep", "colour=red"], "axis"),
                         (["--sweep", "lr=fast"], "cannot read"), (["--widths", "0,4"], "--widths must be"),
                         (["--methods", "magic"], "--methods")):
        bad = cli("sweep", *args)
        assert bad.code == 2 and needle in bad.stderr, (args, bad.stderr)
