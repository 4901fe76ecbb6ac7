"""The science commands' tables in an 80-column terminal: every line fits, and no id, method or number is cut."""

import io
import re

import pytest
from rich.console import Console

from lmctui import cli_output

pytestmark = pytest.mark.slow
WIDTH = 80


@pytest.fixture
def narrow(monkeypatch):
    """stdout as an 80-column terminal; returns what was printed."""
    out = io.StringIO()
    monkeypatch.setattr(cli_output, "stdout", Console(file=out, width=WIDTH, soft_wrap=True))
    return out


@pytest.fixture
def runs(cli):
    """Three moons MLPs (two permutation groups) and every pair's naive and weight curves."""
    ids = [r["id"] for r in cli("train", "--dataset", "moons", "--n-samples", "400", "--width", "8", "--seeds",
                                "0-2", "--epochs", "2", "--device", "cpu", "--json").json["runs"]]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert cli("interp", ids[a], ids[b], "--methods", "naive,weight", "--points", "3", "--no-refine").code == 0
    return ids


def table_lines(text: str) -> list[str]:
    """The lines of the tables themselves (titles are free text that a terminal may wrap)."""
    return [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]


def assert_fits(text: str, *whole: str) -> None:
    lines = table_lines(text)
    assert lines, text
    assert max(len(line) for line in lines) <= WIDTH, text
    assert "…" not in text, text
    cells = {cell.strip() for line in lines for cell in re.split("[┃│]", line)}
    for word in whole:
        assert word in cells, (word, text)


def test_align_tables_of_every_method_fit(cli, runs, narrow):
    a, b, _ = runs
    for options, method in ((["--restarts", "3"], "weight"), (["--method", "activation"], "activation"),
                            (["--method", "ste", "--ste-steps", "3", "--ste-batch", "32"], "ste")):
        start = narrow.tell()
        result = cli("align", a, b, *options, "--device", "cpu")
        assert result.code == 0, result.stderr
        shown = narrow.getvalue()[start:]
        doc = cli("list", "alignments", "--json").json["alignments"][-1]
        assert_fits(shown, a, b, method, doc["id"], doc["aligned_run"])
        if method == "weight":
            assert f"{doc['objective']:.4g}" in shown and "(hidden to fit 80 columns" in result.stderr
        if method == "ste":
            assert f"{doc['midpoint_loss']:.4g}" in shown and f"{doc['identity_loss']:.4g}" in shown


def test_show_of_an_alignment_fits(cli, runs, narrow):
    a, b, _ = runs
    alignment = cli("align", a, b, "--restarts", "4", "--json").json["alignment"]
    cli("show", alignment["id"])
    assert_fits(narrow.getvalue(), alignment["id"], a, b, "weight", "yes")


@pytest.mark.parametrize("refine", ["--refine", "--no-refine"])
def test_interp_table_fits_and_shows_refined_columns_only_when_refined(cli, runs, narrow, refine):
    a, b, _ = runs
    result = cli("interp", a, b, "--methods", "naive,weight,activation,ste", "--ste-steps", "3", "--points", "3",
                 refine, "--json")
    curves = result.json["curves"]
    narrow.truncate(0)
    narrow.seek(0)
    assert cli("interp", a, b, "--methods", "naive,weight,activation,ste", "--ste-steps", "3", "--points", "3",
               refine).code == 0
    shown = narrow.getvalue()
    assert_fits(shown, "naive", "weight", "activation", "ste")
    for curve in curves:
        assert f"{curve['loss_barrier_test']:.4g}" in shown
    assert ("loss refined" in shown) == (refine == "--refine")


def test_consistency_tables_fit(cli, runs, narrow):
    result = cli("consistency", *runs, "--points", "3")
    assert result.code == 0, result.stderr
    assert_fits(narrow.getvalue(), " ".join(runs), *(f"{a} {b}" for a, b in ((runs[0], runs[1]),
                                                                              (runs[0], runs[2]),
                                                                              (runs[1], runs[2]))))


def test_basins_show_the_matrix_only_when_it_fits(cli, runs, narrow, monkeypatch):
    result = cli("basins", *runs, "--threshold", "0.1")
    assert result.code == 0, result.stderr
    shown = narrow.getvalue()
    assert_fits(shown, *runs)
    assert "loss_barrier_test (aligned)" in shown
    monkeypatch.setattr(cli_output, "stdout", Console(file=io.StringIO(), width=36, soft_wrap=True))  # 3 runs: 40 wide
    squeezed = cli("basins", *runs, "--threshold", "0.1")
    assert squeezed.code == 0 and "barrier matrix is wider than the terminal" in squeezed.stderr
    assert "loss_barrier_test (aligned)" not in cli_output.stdout.file.getvalue()
