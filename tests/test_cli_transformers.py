"""ViT and GPT through the CLI: refusals before torch, training, alignment keeping the function."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import CliResult
from lmctui.cli import app


def run(home, *args):
    return CliResult(CliRunner().invoke(app, [str(a) for a in args] + ["--home", str(home)]))


@pytest.mark.parametrize("args, words", [
    (["--arch", "vit", "--dataset", "digits", "--width", "1", "--heads", "3"], "--heads must divide"),
    (["--arch", "gpt", "--dataset", "digits", "--width", "1"], "--arch gpt"),
    (["--arch", "gpt", "--dataset", "moons", "--width", "1"], "--arch gpt"),
    (["--arch", "vit", "--dataset", "modadd", "--width", "1"], "--arch vit"),
    (["--arch", "vit", "--dataset", "mnist-5k", "--width", "1", "--patch", "5"], "--patch 5 does not tile"),
    (["--arch", "gpt", "--dataset", "modadd", "--width", "1", "--train-fraction", "0.95"], "--train-fraction"),
])
def test_bad_transformer_options_are_refused_in_one_line(tmp_path, args, words):
    result = run(tmp_path / "home", "train", *args)
    assert result.code == 2 and words in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.pt"))


def test_a_refusal_never_imports_torch(tmp_path):
    code = ("import sys; from lmctui.cli import app\n"
            "try: app(['train', '--arch', 'vit', '--dataset', 'modadd', '--home', sys.argv[1]])\n"
            "except SystemExit as e: assert e.code == 2, e.code\n"
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, capture_output=True)


@pytest.mark.slow
def test_a_vit_trains_aligns_to_its_own_function_and_refuses_batchnorm_options(tmp_path):
    home = tmp_path / "home"
    made = run(home, "train", "--arch", "vit", "--dataset", "digits", "--width", "1", "--depth", "1", "--heads", "4",
               "--seeds", "0-1", "--epochs", "1", "--optimizer", "adam", "--json")
    assert made.code == 0, made.stderr
    ids = [r["id"] for r in made.json["runs"]]
    aligned = run(home, "align", ids[0], ids[1], "--method", "weight", "--json")
    assert aligned.code == 0, aligned.stderr
    copy = run(home, "show", aligned.json["alignment"]["aligned_run"], "--json").json["run"]
    original = run(home, "show", ids[1], "--json").json["run"]
    assert copy["test_loss"] == pytest.approx(original["test_loss"], abs=1e-5)
    for option, words in (("--repair", "--repair applies to MLPs and CNNs"), ("--reset-bn", "--reset-bn re-estimates")):
        refused = run(home, "interp", ids[0], ids[1], option, "--methods", "naive", "--points", "3")
        assert refused.code == 2 and words in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    assert run(home, "list", "curves", "--json").json["curves"] == []  # nothing measured, nothing stored
    plain = run(home, "interp", ids[0], ids[1], "--methods", "naive", "--points", "3", "--no-refine", "--json")
    assert plain.code == 0, plain.stderr  # without the option: no BatchNorm to reset, nothing refused


@pytest.mark.slow
def test_a_gpt_goes_through_sweeps_basins_consistency_and_mergemany(tmp_path):
    home = tmp_path / "home"
    swept = run(home, "sweep", "--arch", "gpt", "--sweep", "heads=1,2", "--width", "1", "--depth", "1", "--epochs", "1",
                "--seeds", "2", "--methods", "naive,weight", "--points", "3", "--json")
    assert swept.code == 0, swept.stderr
    assert sorted((r["value"], r["method"]) for r in swept.json["rows"]) == [
        (1, "naive"), (1, "weight"), (2, "naive"), (2, "weight")]
    made = run(home, "train", "--arch", "gpt", "--width", "1", "--depth", "1", "--heads", "2", "--seeds", "0-2",
               "--epochs", "1", "--json")
    ids = [r["id"] for r in made.json["runs"]]
    assert {r["dataset"] for r in made.json["runs"]} == {"modadd"}  # the GPT's own data set when none is named
    curves = run(home, "interp", *ids, "--all-pairs", "--methods", "naive,weight", "--points", "3", "--no-refine",
                 "--restarts", "1")
    assert curves.code == 0, curves.stderr
    one = run(home, "basins", *ids, "--threshold", "1e9", "--json")  # every barrier is below it: one basin
    assert one.code == 0, one.stderr
    assert one.json["basins"]["count"] == 1 and sorted(one.json["basins"]["members"][0]) == sorted(ids)
    consistency = run(home, "consistency", *ids, "--restarts", "1", "--json")
    assert consistency.code == 0, consistency.stderr
    assert {"P_res", "P_qk0", "P_vo0", "P_mlp0"} == set(consistency.json["consistency"]["per_group"])
    merged = run(home, "average", *ids, "--method", "mergemany", "--json")
    assert merged.code == 0, merged.stderr
    assert run(home, "show", merged.json["average"]["averaged_run"], "--json").json["run"]["arch"] == "gpt"


@pytest.mark.slow
def test_transformers_of_different_depths_are_not_compared(tmp_path):
    home = tmp_path / "home"
    ids = []
    for depth in (1, 2):
        made = run(home, "train", "--arch", "vit", "--depth", depth, "--heads", "2", "--epochs", "1", "--json")
        assert made.code == 0 and made.json["runs"][0]["depth"] == depth, made.stderr  # blocks, in the record
        ids.append(made.json["runs"][0]["id"])
    refused = run(home, "interp", *ids, "--methods", "naive", "--points", "3")
    assert refused.code == 2 and "differ in depth: 1 vs 2" in refused.stderr, refused.stderr
