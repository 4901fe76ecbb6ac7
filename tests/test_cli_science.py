"""align, interp, average and export barriers through the CLI, on real digits runs."""

import csv

import pytest
from typer.testing import CliRunner

from conftest import CliResult, registry_bytes
from lmctui.cli import app

pytestmark = pytest.mark.slow
CURVE_KEYS = {"method", "alpha", "train_loss", "test_loss", "train_acc", "test_acc", "loss_barrier_train",
              "loss_barrier_test", "error_barrier_train", "error_barrier_test"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Four digits MLPs (width 64, depth 2) from seeds 0-3, plus a narrower and a moons run."""
    home = tmp_path_factory.mktemp("lab")
    runner = CliRunner()

    def cli(*args):
        return CliResult(runner.invoke(app, [str(a) for a in args] + ["--home", str(home)]))

    runs = cli("train", "--dataset", "digits", "--width", "64", "--depth", "2", "--seeds", "0-3",
               "--epochs", "15", "--json").json["runs"]
    narrow = cli("train", "--dataset", "digits", "--width", "32", "--depth", "2", "--epochs", "1", "--json").json["runs"][0]
    moons = cli("train", "--dataset", "moons", "--width", "64", "--depth", "2", "--epochs", "1", "--json").json["runs"][0]
    return cli, home, [r["id"] for r in runs], narrow["id"], moons["id"]


def test_weight_matching_cuts_the_digits_barrier_by_more_than_half(lab):
    cli, _, ids, _, _ = lab
    result = cli("interp", ids[0], ids[1], "--methods", "naive,weight,activation", "--json")
    assert result.code == 0, result.stderr
    curves = {c["method"]: c for c in result.json["curves"]}
    assert set(curves) == {"naive", "weight", "activation"}
    for curve in curves.values():
        assert CURVE_KEYS <= curve.keys() and len(curve["alpha"]) == 25
    naive = curves["naive"]["loss_barrier_test"]
    assert naive > 0.1
    assert curves["weight"]["loss_barrier_test"] < 0.5 * naive
    assert curves["activation"]["loss_barrier_test"] < 0.5 * naive
    # the endpoints are the same networks whatever the method
    assert curves["weight"]["test_loss"][-1] == pytest.approx(curves["naive"]["test_loss"][-1], rel=1e-5)


def test_aligned_average_of_four_beats_the_naive_average(lab):
    cli, _, ids, _, _ = lab
    results = {}
    for method in ("naive", "weight", "mergemany"):
        out = cli("average", *ids, "--method", method, "--json")
        assert out.code == 0, out.stderr
        results[method] = out.json["average"]
    assert results["weight"]["test_acc"] > results["naive"]["test_acc"] + 0.1
    assert results["mergemany"]["test_acc"] > results["naive"]["test_acc"] + 0.1
    avg = results["weight"]
    assert len(avg["endpoints"]) == 4 and {"test_acc", "test_loss"} <= avg["ensemble"].keys()
    assert avg["ensemble"]["test_acc"] >= min(e["test_acc"] for e in avg["endpoints"]) - 0.02
    # the averaged network is a registered run whose stored accuracy is the reported one
    shown = cli("show", avg["averaged_run"], "--json").json["run"]
    assert shown["kind"] == "averaged" and shown["test_acc"] == pytest.approx(avg["test_acc"])


def test_align_registers_the_permuted_copy_with_the_same_function(lab):
    cli, _, ids, _, _ = lab
    result = cli("align", ids[2], ids[3], "--method", "weight", "--seed", "4", "--json")
    assert result.code == 0, result.stderr
    alignment = result.json["alignment"]
    assert {"id", "run_a", "run_b", "method", "aligned_run", "iterations", "objective", "seconds"} <= alignment.keys()
    assert (alignment["run_a"], alignment["run_b"], alignment["method"]) == (ids[2], ids[3], "weight")
    aligned = cli("show", alignment["aligned_run"], "--json").json["run"]
    original = cli("show", ids[3], "--json").json["run"]
    assert aligned["parent"] == ids[3] and aligned["kind"] == "aligned"
    assert aligned["test_acc"] == pytest.approx(original["test_acc"])
    # asking again reuses the stored alignment
    again = cli("align", ids[2], ids[3], "--method", "weight", "--seed", "4", "--json").json["alignment"]
    assert again["id"] == alignment["id"] and again["reused"]


def test_export_barriers_writes_one_row_per_stored_curve(lab, tmp_path):
    cli, home, ids, _, _ = lab
    cli("interp", ids[0], ids[2], "--methods", "naive", "--points", "5", "--json")
    stored = len(__import__("lmctui.store", fromlist=["Registry"]).Registry(home).all("curves"))
    out = tmp_path / "barriers.csv"
    assert cli("export", "barriers", "--out", out).code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == stored >= 1
    assert {"run_a", "run_b", "method", "loss_barrier_test", "error_barrier_train", "config_a", "width"} <= rows[0].keys()
    assert rows[-1]["method"] == "naive" and rows[-1]["run_b"] == ids[2]


def test_plot_draws_both_methods(lab):
    cli, _, ids, _, _ = lab
    result = cli("interp", ids[0], ids[1], "--methods", "naive,weight", "--points", "5", "--plot")
    assert result.code == 0, result.stderr
    assert "naive (barrier" in result.stdout and "weight (barrier" in result.stdout and "alpha" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes when not on a terminal


def test_mismatched_or_unfinished_runs_are_refused(lab):
    cli, home, ids, narrow, moons = lab
    before = registry_bytes(home)
    cases = [
        (["align", ids[0], narrow], "differ in width"),
        (["align", ids[0], moons], "differ in dataset"),
        (["interp", ids[0], narrow], "differ in width"),
        (["average", ids[0], moons, "--method", "naive"], "differ in dataset"),
        (["average", ids[0], "--method", "weight"], "at least 2"),
        (["average", ids[0], ids[0]], "twice"),
        (["align", ids[0], ids[1], "--method", "telepathy"], "--method"),
        (["interp", ids[0], ids[1], "--methods", "naive,magic"], "--methods"),
        (["interp", ids[0], ids[1], "--points", "1"], "--points"),
        (["average", ids[0], ids[1], "--reference", narrow], "not one of"),
    ]
    for args, needle in cases:
        result = cli(*args)
        assert result.code == 2, (args, result.stderr)
        assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert registry_bytes(home) == before


def test_unfinished_run_and_tampered_weights_are_refused(lab):
    cli, home, ids, _, _ = lab
    from lmctui.store import Registry

    registry = Registry(home)
    extra = cli("train", "--dataset", "digits", "--width", "64", "--depth", "2", "--seeds", "9", "--epochs", "1",
                "--json").json["runs"][0]["id"]
    registry.update("runs", extra, {"status": "interrupted"})
    result = cli("align", ids[0], extra)
    assert result.code == 2 and "interrupted, not done" in result.stderr
    registry.update("runs", extra, {"status": "done"})
    weights = home / "runs" / extra / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = cli("average", ids[0], extra, "--method", "naive")
    assert result.code == 2 and "sha256" in result.stderr
