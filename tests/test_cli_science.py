"""align, interp, average, consistency, basins and the exports through the CLI, on real digits and toy runs."""

import csv
import itertools

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


# -- issue 14 through the CLI: restarts, STE, refined barriers, consistency, basins -----------------------------

@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    """Three moons MLPs (width 8, depth 2: two permutation groups, so restarts can disagree) from seeds 0-2."""
    home = tmp_path_factory.mktemp("toys")
    runner = CliRunner()

    def cli(*args):
        return CliResult(runner.invoke(app, [str(a) for a in args] + ["--home", str(home)]))

    runs = cli("train", "--dataset", "moons", "--n-samples", "400", "--width", "8", "--depth", "2", "--seeds", "0-2",
               "--epochs", "4", "--device", "cpu", "--json").json["runs"]
    return cli, home, [r["id"] for r in runs]


def permuted_copies(home, run_id: str, count: int, seed: int) -> list[str]:
    """`count` copies of a run with its hidden units shuffled by known random permutations, registered as runs
    (the same function, so weight matching finds each map exactly)."""
    import torch

    from lmctui.core.permutation import apply_permutation, random_perms, spec_for
    from lmctui.service.catalog import open_registry
    from lmctui.service.loaded import LoadedRuns
    from lmctui.service.science import register_derived

    loaded = LoadedRuns.load(open_registry(home), [run_id], "cpu")
    spec, parent = spec_for(loaded.model), loaded[0]
    generator = torch.Generator().manual_seed(seed)
    return [register_derived(loaded, parent.doc, apply_permutation(spec, random_perms(spec, parent.state, generator),
                                                                   parent.state), "aligned", parent=run_id)
            for _ in range(count)]


def test_restarts_record_every_objective_and_keep_the_best(toys, tmp_path):
    cli, home, ids = toys
    result = cli("align", ids[0], ids[1], "--restarts", "6", "--seed", "2", "--json")
    assert result.code == 0, result.stderr
    alignment = result.json["alignment"]
    objectives = alignment["restart_objectives"]
    assert alignment["restarts"] == 6 and len(objectives) == 6
    assert all(alignment["objective"] >= o for o in objectives) and alignment["objective"] == max(objectives)
    assert objectives[alignment["best_restart"]] == alignment["objective"]
    # the spread shows in `show` of the alignment (JSON and table) and in the alignments export
    shown = cli("show", alignment["id"], "--json").json["alignment"]
    assert shown["restart_objectives"] == objectives
    assert shown["restart_spread"] == pytest.approx(max(objectives) - min(objectives))
    table = cli("show", alignment["id"][:5])
    assert table.code == 0 and "6 restart(s)" in table.stdout and "below_best" in table.stdout
    out = tmp_path / "alignments.csv"
    assert cli("export", "alignments", "--out", out).code == 0
    [row] = [r for r in csv.DictReader(out.open()) if r["id"] == alignment["id"]]
    assert [float(o) for o in row["restart_objectives"].split(";")] == pytest.approx(objectives, rel=1e-12)
    assert float(row["restart_spread"]) == pytest.approx(max(objectives) - min(objectives))
    # without --restarts an MLP gets configs.DEFAULT_RESTARTS["mlp"]; another count is another alignment
    default = cli("align", ids[0], ids[1], "--seed", "2", "--json").json["alignment"]
    assert default["restarts"] == 1 and len(default["restart_objectives"]) == 1 and default["id"] != alignment["id"]


def test_ste_alignment_gives_a_valid_permutation_and_reports_its_steps(toys):
    cli, _, ids = toys
    result = cli("align", ids[0], ids[2], "--method", "ste", "--ste-steps", "100", "--ste-batch", "64", "--ste-lr",
                 "0.01", "--json")
    assert result.code == 0, result.stderr
    alignment = result.json["alignment"]
    assert alignment["method"] == "ste" and alignment["midpoint_loss"] <= alignment["identity_loss"] + 1e-9
    assert (alignment["ste"]["steps"], alignment["ste"]["batch_size"], alignment["ste"]["lr"]) == (100, 64, 0.01)
    assert "[100%] STE matching: 100/100" in result.stderr  # off a terminal: a line per quarter
    shown = cli("show", alignment["id"], "--json").json
    assert set(shown["permutation"]) == {"P_hidden0", "P_hidden1"}
    for units in shown["permutation"].values():
        assert sorted(units) == list(range(8))
    aligned = cli("show", alignment["aligned_run"], "--json").json["run"]
    original = cli("show", ids[2], "--json").json["run"]
    assert aligned["kind"] == "aligned" and aligned["test_acc"] == pytest.approx(original["test_acc"])


def test_the_seed_draws_ste_batch_order_as_core_ste_matching_does_with_that_seed(toys):
    """--seed used to be recorded on an STE alignment but never reached STE (its batch order was always seed 0)."""
    from lmctui.configs import STEOptions
    from lmctui.core.permutation import spec_for
    from lmctui.core.ste import ste_matching
    from lmctui.service.catalog import open_registry
    from lmctui.service.loaded import LoadedRuns

    cli, home, ids = toys
    options = ["--method", "ste", "--ste-steps", "12", "--ste-batch", "32", "--device", "cpu", "--json"]
    made = {seed: cli("align", ids[1], ids[2], "--seed", seed, *options) for seed in (0, 3)}
    assert all(m.code == 0 for m in made.values()), [m.stderr for m in made.values()]
    loaded = LoadedRuns.load(open_registry(home), [ids[1], ids[2]], "cpu")
    for seed, result in made.items():
        alignment = result.json["alignment"]
        assert alignment["seed"] == seed and alignment["ste"]["seed"] == seed
        oracle = ste_matching(loaded.model, spec_for(loaded.model), loaded[0].state, loaded[1].state,
                              loaded.data.x_train, loaded.data.y_train, STEOptions(steps=12, batch_size=32, seed=seed))
        stored = open_registry(home).get("alignments", alignment["id"])
        assert stored["step_losses"] == pytest.approx(list(oracle.step_losses), rel=1e-6)
        assert alignment["midpoint_loss"] == pytest.approx(oracle.midpoint_loss, rel=1e-6)
        permutation = cli("show", alignment["id"], "--json").json["permutation"]
        assert permutation == {p: v.tolist() for p, v in oracle.perms.items()}
    assert made[0].json["alignment"]["id"] != made[3].json["alignment"]["id"]
    again = cli("align", ids[1], ids[2], "--seed", "3", *options).json["alignment"]
    assert again["reused"] and again["id"] == made[3].json["alignment"]["id"]


def test_interp_and_average_take_the_matching_options_and_show_refined_barriers(toys):
    cli, home, ids = toys
    result = cli("interp", ids[1], ids[2], "--methods", "naive,weight,ste", "--restarts", "3", "--ste-steps", "10",
                 "--points", "5", "--json")
    assert result.code == 0, result.stderr
    curves = {c["method"]: c for c in result.json["curves"]}
    for curve in curves.values():
        assert curve["loss_barrier_test_refined"] >= curve["loss_barrier_test"] - 1e-9
        assert 0.0 <= curve["loss_barrier_test_alpha"] <= 1.0 and 0.0 <= curve["error_barrier_test_alpha"] <= 1.0
    from lmctui.store import Registry

    alignments = {a["id"]: a for a in Registry(home).all("alignments")}
    assert alignments[curves["weight"]["alignment"]]["restarts"] == 3
    assert alignments[curves["ste"]["alignment"]]["ste"]["steps"] == 10
    table = cli("interp", ids[1], ids[2], "--methods", "naive", "--points", "5")
    assert table.code == 0 and "loss refined" in table.stdout and "loss alpha" in table.stdout
    plain = cli("interp", ids[1], ids[2], "--methods", "naive", "--points", "5", "--no-refine", "--recompute", "--json")
    assert plain.json["curves"][0]["loss_barrier_test_refined"] is None
    for method, options in (("universe", ["--restarts", "2"]), ("ste", ["--ste-steps", "5", "--ste-batch", "32"])):
        averaged = cli("average", *ids, "--method", method, *options, "--json")
        assert averaged.code == 0, averaged.stderr
        assert averaged.json["average"]["method"] == method and 0.0 <= averaged.json["average"]["test_acc"] <= 1.0
    assert cli("list", "averages", "--filter", "method=universe", "--json").json["averages"][-1]["restarts"] == 2


def test_sweep_passes_restarts_to_its_alignments(tmp_path):
    from lmctui.store import Registry

    home = tmp_path / "home"
    result = CliResult(CliRunner().invoke(app, ["sweep", "--widths", "4", "--depth", "2", "--seeds", "2", "--epochs",
                                                "1", "--points", "3", "--methods", "naive,weight", "--restarts", "3",
                                                "--device", "cpu", "--json", "--home", str(home)]))
    assert result.code == 0, result.stderr
    assert {r["method"] for r in result.json["summary"]} == {"naive", "weight"}
    assert [a["restarts"] for a in Registry(home).all("alignments")] == [3]
    assert all(not s["endpoints_reset"] for s in result.json["summary"])  # no BatchNorm: the endpoints as trained


def test_sweep_compares_batchnorm_averages_with_endpoints_reset_the_same_way(tmp_path):
    home = tmp_path / "home"
    runner = CliRunner()

    def cli(*args):
        return CliResult(runner.invoke(app, [str(a) for a in args] + ["--home", str(home)]))

    swept = cli("sweep", "--dataset", "digits", "--arch", "vgg", "--norm", "batch", "--widths", "1", "--seeds", "2",
                "--epochs", "1", "--points", "3", "--methods", "naive", "--device", "cpu", "--json")
    assert swept.code == 0, swept.stderr
    [summary] = swept.json["summary"]
    runs = sorted({r[k] for r in swept.json["rows"] for k in ("run_a", "run_b")})
    endpoints = cli("average", *runs, "--method", "naive", "--json").json["average"]["endpoints"]
    assert summary["endpoints_reset"] is True
    assert summary["endpoint_test_acc_mean"] == pytest.approx(sum(e["test_acc_reset"] for e in endpoints) / 2)
    assert summary["endpoint_test_acc_mean_trained"] == pytest.approx(sum(e["test_acc"] for e in endpoints) / 2)


def test_consistency_of_exact_permutations_is_one_with_the_composed_barrier_the_direct_one(toys):
    cli, home, ids = toys
    copies = permuted_copies(home, ids[0], 2, seed=7)
    result = cli("consistency", ids[0], *copies, "--restarts", "4", "--points", "5", "--json")
    assert result.code == 0, result.stderr
    found = result.json["consistency"]
    assert found["runs"] == [ids[0], *copies] and found["restarts"] == 4
    assert found["overall"] == 1.0 and found["per_group"] == {"P_hidden0": 1.0, "P_hidden1": 1.0}
    [triangle] = found["triangles"]
    assert triangle["consistent"] == 1.0 and triangle["barrier_composed"] == triangle["barrier_direct"]
    for entry in found["triangles"] + found["pairs"]:
        for key in ("barrier_direct", "barrier_composed", "barrier_shared", "barrier_mergemany"):
            assert abs(entry.get(key, 0.0)) < 1e-5, (key, entry)
    assert found["mergemany"]["objective"] == pytest.approx(found["shared_frame"]["objective"], rel=1e-9)
    table = cli("consistency", ids[0], *copies, "--restarts", "4", "--points", "5")
    assert table.code == 0 and "1.0000 of units agree" in table.stdout and "mergemany" in table.stdout


def test_consistency_of_different_seeds_runs_and_says_what_it_did(toys):
    cli, _, ids = toys
    result = cli("consistency", *ids, "--points", "3", "--json")
    assert result.code == 0, result.stderr
    found = result.json["consistency"]
    assert 0.0 <= found["overall"] <= 1.0 and len(found["pairs"]) == 3 and found["restarts"] == 1
    assert "[100%] done" in result.stderr


def test_basins_recover_two_groups_of_permuted_copies_and_export_one_row_per_network(tmp_path):
    """Two xor nets (seeds 0, 1) and two permuted copies of each. Weight matching finds a copy's map
    exactly (one hidden layer: one assignment problem), so within a group the aligned barrier is 0;
    between the groups it is that of two different networks (0.04 here); the naive barrier between a
    net and its copy is not 0."""
    home = tmp_path / "home"
    runner = CliRunner()

    def cli(*args):
        return CliResult(runner.invoke(app, [str(a) for a in args] + ["--home", str(home)]))

    parents = [r["id"] for r in cli("train", "--dataset", "xor", "--n-samples", "400", "--width", "4", "--depth", "1",
                                    "--seeds", "0,1", "--epochs", "5", "--device", "cpu", "--json").json["runs"]]
    group = {p: g for g, p in enumerate(parents)}
    for g, parent in enumerate(parents):
        group.update({c: g for c in permuted_copies(home, parent, 2, seed=10 + g)})
    nets = sorted(group)
    before_curves = cli("basins", *nets, "--threshold", "0.001")
    assert before_curves.code == 2 and "--all-pairs" in before_curves.stderr
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            assert cli("interp", a, b, "--methods", "naive,weight", "--points", "5", "--no-refine").code == 0
    found = cli("basins", *nets, "--threshold", "0.001", "--json").json["basins"]
    matrix = found["matrix"]
    for i, j in itertools.combinations(range(len(nets)), 2):  # the oracle holds on these networks
        same = group[nets[i]] == group[nets[j]]
        assert (matrix[i][j] == 0.0) if same else (matrix[i][j] > 0.01), (nets[i], nets[j], matrix[i][j])
    assert found["count"] == 2 and found["runs"] == nets
    assert sorted(map(sorted, found["members"])) == sorted(sorted(n for n in nets if group[n] == g) for g in (0, 1))
    naive = cli("basins", *nets, "--threshold", "0.001", "--method", "naive", "--json").json["basins"]
    assert naive["count"] > 2
    table = cli("basins", *nets, "--threshold", "0.001")
    assert table.code == 0 and "2 basin(s)" in table.stdout
    out = tmp_path / "basins.csv"
    exported = cli("export", "basins", *nets, "--threshold", "0.001", "--out", out, "--json")
    assert exported.code == 0 and exported.json["rows"] == len(nets) and exported.json["count"] == 2
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["run"] for r in rows) == nets and all(r["basin_size"] == "3" for r in rows)
    label_of = {r["run"]: r["basin"] for r in rows}
    assert all((label_of[a] == label_of[b]) == (group[a] == group[b]) for a, b in itertools.combinations(nets, 2))


def test_refusals_of_the_new_options_exit_2_in_one_line_and_touch_nothing(toys, tmp_path):
    cli, home, ids = toys
    before = registry_bytes(home)
    cases = [
        (["align", ids[0], ids[1], "--restarts", "0"], "--restarts"),
        (["align", ids[0], ids[1], "--restarts", "257"], "--restarts"),
        (["align", ids[0], ids[1], "--method", "ste", "--ste-steps", "-1"], "--ste-steps"),
        (["align", ids[0], ids[1], "--method", "ste", "--ste-lr", "nan"], "--ste-lr"),
        (["align", ids[0], ids[1], "--ste-steps", "10"], "STE matching only"),
        (["align", ids[0], ids[1], "--method", "activation", "--restarts", "2"], "weight matching only"),
        (["interp", ids[0], ids[1], "--methods", "naive,weight", "--ste-batch", "0"], "--ste-batch"),
        (["interp", ids[0], ids[1], "--methods", "naive,ste", "--ste-batch", "0"], "--ste-batch"),
        (["average", *ids, "--method", "mergemany", "--restarts", "2"], "weight matching only"),
        (["average", *ids, "--method", "ste", "--ste-steps", "0", "--queue"], "--ste-steps"),
        (["sweep", "--widths", "4", "--restarts", "0"], "--restarts"),
        (["consistency", ids[0], ids[1]], "3 to 16"),
        (["consistency", ids[0]], "3 to 16"),
        (["consistency", ids[0], ids[1], "qqqqqq"], "no run"),
        (["consistency", ids[0], ids[1], ids[1]], "twice"),
        (["consistency", *ids, "--points", "1"], "--points"),
        (["consistency", *ids, "--restarts", "0"], "--restarts"),
        (["consistency", *ids, "--executor", "slurm"], "--executor"),
        (["basins", *ids, "--threshold", "nan"], "--threshold"),
        (["basins", *ids, "--threshold", "-1"], "--threshold"),
        (["basins", *ids, "--threshold", "inf"], "--threshold"),
        (["basins", ids[0], "--threshold", "0.1"], "RUNS"),
        (["basins", ids[0], "qqqqqq", "--threshold", "0.1"], "no run"),
        (["basins", *ids, "--threshold", "0.1", "--method", "telepathy"], "--method"),
        (["basins", *ids, "--threshold", "0.1", "--linkage", "single"], "--linkage"),
        (["basins", *ids, "--threshold", "0.1", "--metric", "accuracy"], "--metric"),
        (["basins", *ids, "--threshold", "0.1"], "--all-pairs"),
        (["export", "basins", *ids, "--threshold", "nan", "--out", tmp_path / "b.csv"], "--threshold"),
        (["export", "alignments", "--out", home / "registry.json"], "--out"),
        (["show", "qqqqqq"], "no run, alignment or curve"),
    ]
    for args, needle in cases:
        result = cli(*args)
        assert result.code == 2, (args, result.stdout, result.stderr)
        assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
    assert registry_bytes(home) == before and not (tmp_path / "b.csv").exists()
