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
