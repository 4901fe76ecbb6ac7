"""Results a researcher can use, through the CLI: one curve per identity, curves as data
(show, export, list), figures, every pair at once, REPAIR of an average, STE's start."""

import csv
import itertools

import pytest
from typer.testing import CliRunner

from conftest import CliResult
from lmctui.cli import app

pytestmark = pytest.mark.slow
FAST = ("--points", "5", "--no-refine")
PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Four moons MLPs (width 8) and a digits one (not comparable with them)."""
    home = tmp_path_factory.mktemp("results")
    runner = CliRunner()

    def cli(*args):
        return CliResult(runner.invoke(app, [str(a) for a in args] + ["--home", str(home)]))

    runs = cli("train", "--dataset", "moons", "--width", "8", "--seeds", "0-3", "--epochs", "3", "--json").json["runs"]
    digits = cli("train", "--dataset", "digits", "--width", "8", "--epochs", "1", "--json").json["runs"][0]
    return cli, home, [r["id"] for r in runs], digits["id"]


def curves_of(cli, a, b):
    return [c for c in cli("list", "curves", "--json").json["curves"] if {c["run_a"], c["run_b"]} == {a, b}]


def test_interp_twice_keeps_one_curve_per_method_and_recompute_replaces_it(lab):
    cli, _, ids, _ = lab
    first = cli("interp", ids[0], ids[1], "--methods", "naive,weight", *FAST, "--json")
    assert first.code == 0, first.stderr
    again = cli("interp", ids[0], ids[1], "--methods", "naive,weight", *FAST, "--json")
    assert again.code == 0 and "stored" in again.stderr
    assert [c["id"] for c in again.json["curves"]] == [c["id"] for c in first.json["curves"]]
    assert all(c["reused"] for c in again.json["curves"])
    assert again.json["curves"][1]["test_loss"] == first.json["curves"][1]["test_loss"]
    naive_backwards = cli("interp", ids[1], ids[0], "--methods", "naive", *FAST, "--json")
    assert naive_backwards.json["curves"][0]["reused"], "naive is symmetric: B-A is A-B"
    assert sorted(c["method"] for c in curves_of(cli, ids[0], ids[1])) == ["naive", "weight"]
    redone = cli("interp", ids[0], ids[1], "--methods", "weight", *FAST, "--recompute", "--json")
    assert redone.code == 0 and not redone.json["curves"][0]["reused"]
    stored = curves_of(cli, ids[0], ids[1])
    assert sorted(c["method"] for c in stored) == ["naive", "weight"]
    assert redone.json["curves"][0]["id"] in {c["id"] for c in stored}
    other = cli("interp", ids[0], ids[1], "--methods", "weight", "--points", "7", "--no-refine", "--json")
    assert not other.json["curves"][0]["reused"], "another grid is another curve"
    assert len(curves_of(cli, ids[0], ids[1])) == 3


def test_show_a_curve_gives_every_alpha(lab):
    cli, _, ids, _ = lab
    made = cli("interp", ids[0], ids[2], "--methods", "weight", "--points", "9", "--json").json["curves"][0]
    shown = cli("show", made["id"], "--json")
    assert shown.code == 0, shown.stderr
    points = shown.json["points"]
    assert [p["alpha"] for p in points] == pytest.approx([i / 8 for i in range(9)])
    assert [p["test_loss"] for p in points] == made["test_loss"]
    assert {"train_loss", "train_acc", "test_acc"} <= points[0].keys()
    assert shown.json["curve"]["loss_barrier_test_refined"] == made["loss_barrier_test_refined"]
    assert shown.json["settings"]["restarts"] == 1
    table = cli("show", made["id"])
    assert table.code == 0 and "alpha" in table.stdout and "0.5" in table.stdout


def test_export_curves_writes_one_row_per_alpha(lab, tmp_path):
    cli, _, ids, _ = lab
    cli("interp", ids[2], ids[3], "--methods", "naive", *FAST)
    listed = cli("list", "curves", "--json").json["curves"]
    out = tmp_path / "curves.csv"
    result = cli("export", "curves", "--out", out, "--json")
    assert result.code == 0, result.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(c["points"] for c in listed) == result.json["rows"]
    assert {r["curve"] for r in rows} == {c["id"] for c in listed}
    assert {"alpha", "train_loss", "test_loss", "train_acc", "test_acc", "method", "run_a", "run_b",
            "loss_barrier_test"} <= rows[0].keys()
    only = cli("list", "curves", "--filter", "method=naive", "--json").json["curves"]
    assert only and all(c["method"] == "naive" for c in only)


def test_all_pairs_gives_every_pair_once_and_refuses_the_incomparable(lab):
    cli, _, ids, digits = lab
    result = cli("interp", *ids, digits, "--all-pairs", "--methods", "naive,weight", *FAST, "--json")
    assert result.code == 0, result.stderr
    assert "not comparable" in result.stderr and result.stderr.count("\n") <= 3
    for method in ("naive", "weight"):
        pairs = {frozenset((c["run_a"], c["run_b"])) for c in cli("list", "curves", "--json").json["curves"]
                 if c["method"] == method and c["points"] == 5 and digits not in (c["run_a"], c["run_b"])}
        assert pairs == {frozenset(p) for p in itertools.combinations(ids, 2)}
    found = cli("basins", *ids, "--threshold", "0.1", "--method", "naive", "--json")
    assert found.code == 0, found.stderr


def test_basins_names_the_command_that_fills_its_missing_pairs(lab):
    cli, _, ids, _ = lab
    missing = cli("basins", *ids, "--threshold", "0.1", "--method", "ste")
    assert missing.code == 2 and "--all-pairs" in missing.stderr


@pytest.fixture(scope="module")
def swept(lab):
    cli, _, ids, _ = lab
    cli("interp", *ids, "--all-pairs", "--methods", "naive,weight", *FAST)
    return cli("sweep", "--dataset", "moons", "--widths", "4,8", "--seeds", "2", "--epochs", "1",
               "--methods", "naive,weight", "--points", "5", "--json").json["sweep"]


@pytest.mark.parametrize("suffix, magic", [(".png", PNG), (".pdf", PDF), (".svg", b"<svg")])
def test_plot_writes_real_files_of_every_kind(lab, swept, tmp_path, suffix, magic):
    pytest.importorskip("matplotlib")
    cli, _, ids, _ = lab
    for kind, args in (("curves", ids[:2]), ("sweep", [swept]), ("basins", [*ids, "--threshold", "0.1"]),
                       ("training", ids[:2])):
        out = tmp_path / f"{kind}{suffix}"
        result = cli("plot", kind, *args, "--out", out, "--style", "paper", "--json")
        assert result.code == 0, (kind, result.stderr)
        data = out.read_bytes()
        assert (magic in data[:400] if suffix == ".svg" else data.startswith(magic)) and len(data) > 5_000


def test_plot_of_two_methods_differs_from_one(lab, tmp_path):
    pytest.importorskip("matplotlib")
    cli, home, ids, _ = lab
    cli("interp", ids[1], ids[3], "--methods", "naive,weight", *FAST)
    one, two = tmp_path / "one.svg", tmp_path / "two.svg"
    assert cli("plot", "curves", ids[1], ids[3], "--methods", "naive", "--out", one).code == 0
    assert cli("plot", "curves", ids[1], ids[3], "--out", two).code == 0
    assert one.read_bytes() != two.read_bytes()


def test_plot_refuses_bad_input_in_one_line(lab, tmp_path):
    cli, _, ids, _ = lab
    for args in (["plot", "curves", ids[0], "--out", tmp_path / "x.jpg"],
                 ["plot", "curves", ids[0], "--out", tmp_path / "x.png", "--style", "poster"]):
        result = cli(*args)
        assert result.code == 2 and result.stderr.count("\n") == 1, result.stderr


def test_average_repair_and_its_refusal(lab):
    cli, _, ids, _ = lab
    repaired = cli("average", *ids[:3], "--method", "weight", "--repair", "--json")
    assert repaired.code == 0, repaired.stderr
    assert repaired.json["average"]["repair"] is True
    refused = cli("average", *ids[:3], "--method", "naive", "--repair")
    assert refused.code == 2 and "naive" in refused.stderr and refused.stderr.count("\n") == 1


def test_ste_records_its_start_the_best_of_its_restarts(lab):
    """STE's first projection is weight matching with --seed and --restarts; the alignment keeps it."""
    from lmctui.core.matching import weight_matching
    from lmctui.core.permutation import spec_for
    from lmctui.service.catalog import open_registry
    from lmctui.service.loaded import LoadedRuns

    cli, home, ids, _ = lab
    made = cli("align", ids[0], ids[3], "--method", "ste", "--seed", "2", "--restarts", "4", "--ste-steps", "5",
               "--device", "cpu", "--json")
    assert made.code == 0, made.stderr
    alignment = made.json["alignment"]
    assert alignment["restarts"] == 4 and len(alignment["restart_objectives"]) == 4
    shown = cli("show", alignment["id"], "--json").json
    loaded = LoadedRuns.load(open_registry(home), [ids[0], ids[3]], "cpu")
    oracle = weight_matching(spec_for(loaded.model), loaded[0].state, loaded[1].state, seed=2, restarts=4)
    assert shown["start_permutation"] == {p: v.tolist() for p, v in oracle.perms.items()}
    assert alignment["restart_objectives"] == pytest.approx(oracle.restart_objectives, rel=1e-9)
    assert alignment["best_restart"] == oracle.best_restart


def test_a_registry_with_repeats_lists_and_exports_each_curve_once(tmp_path):
    """Curves stored twice before identities existed: shown and exported once (the newest), said on stderr."""
    from lmctui.store import Registry

    home = tmp_path / "home"
    runner = CliRunner()

    def cli(*args):
        return CliResult(runner.invoke(app, [str(a) for a in args] + ["--home", str(home)]))

    ids = [r["id"] for r in cli("train", "--width", "4", "--seeds", "0,1", "--epochs", "1", "--json").json["runs"]]
    made = cli("interp", *ids, "--methods", "naive", *FAST, "--json").json["curves"][0]
    registry = Registry(home)
    old = {k: v for k, v in registry.get("curves", made["id"]).items() if k not in ("id", "created")}
    repeat = registry.insert("curves", {**old, "test_loss": [9.0] * 5})  # newer: it wins
    listed = cli("list", "curves", "--json")
    assert [c["id"] for c in listed.json["curves"]] == [repeat["id"]]
    assert "1 older repeat" in listed.stderr
    out = tmp_path / "barriers.csv"
    assert cli("export", "barriers", "--out", out, "--json").json["rows"] == 1
    assert cli("export", "curves", "--out", tmp_path / "c.csv", "--json").json["rows"] == 5
    assert len(list(registry.all("curves"))) == 2, "reading changes nothing"
