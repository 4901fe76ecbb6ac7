"""The CLI's tables in a narrow terminal, and the listings of every table."""

import io

import pytest
from rich.console import Console

from lmctui import cli_output
from lmctui.records import LISTINGS


@pytest.fixture
def narrow(monkeypatch):
    """stdout as an 80-column terminal; returns what was printed."""
    out = io.StringIO()
    monkeypatch.setattr(cli_output, "stdout", Console(file=out, width=80, soft_wrap=True))
    return out


def test_an_80_column_table_drops_columns_but_never_cuts_ids_or_numbers(narrow):
    rows = [{"id": f"run{i:03d}", "kind": "trained", "dataset": "fashion-mnist", "arch": "resnet20",
             "width": 128, "depth": None, "seed": 123456, "optimizer": "adam", "lr": 0.000123456,
             "epochs": 1000, "status": "interrupted", "test_acc": 0.987654321, "test_loss": 0.0123456789,
             "tags": ["study-one", "long-tag"]} for i in range(3)]
    cli_output.print_table(rows, list(LISTINGS["runs"].columns), drop=LISTINGS["runs"].drop)
    text = narrow.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for row in rows:
        assert row["id"] in text
    assert "0.9877" in text and "interrupted" in text and "…" not in text
    assert "tags" not in text.splitlines()[1]  # the lowest-value column went first


def test_free_text_wraps_instead_of_being_cut(narrow):
    error = "runs 2abcde and 3fghjk differ in width: 64 vs 8 " * 2
    cli_output.print_table([{"id": "j1", "status": "failed", "error": error}], ["id", "status", "error"],
                           wrap=("error",))
    text = " ".join(part.strip("│ ") for part in narrow.getvalue().splitlines())
    assert "differ in width: 64 vs 8" in " ".join(text.split())


@pytest.fixture
def lab(cli):
    a, b = (r["id"] for r in cli("train", "--width", "8", "--depth", "1", "--seeds", "0,1", "--epochs", "2",
                                 "--save-epochs", "1", "--json").json["runs"])
    assert cli("interp", a, b, "--points", "3").code == 0
    sweep = cli("sweep", "--widths", "4", "--seeds", "2", "--epochs", "1", "--points", "3", "--methods", "naive",
                "--json").json["sweep"]
    assert cli("average", a, b, "--method", "naive").code == 0
    return a, b, sweep


def test_every_table_can_be_listed(cli, lab):
    a, b, sweep = lab
    assert [s["id"] for s in cli("list", "sweeps", "--json").json["sweeps"]] == [sweep]
    curves = cli("list", "curves", "--json").json["curves"]
    assert {(c["run_a"], c["run_b"], c["method"]) for c in curves} >= {(a, b, "naive"), (a, b, "weight")}
    [alignment] = [x for x in cli("list", "alignments", "--json").json["alignments"] if x["run_a"] == a]
    assert alignment["run_b"] == b and alignment["method"] == "weight"
    assert [a, b] in [x["runs"] for x in cli("list", "averages", "--json").json["averages"]]
    assert cli("list", "curves", "--filter", f"run_a={a}", "--json").json["curves"]
    refused = cli("list", "planets")
    assert refused.code == 2 and "planets" in refused.stderr


def test_a_filter_matching_nothing_says_so(cli, lab):
    result = cli("list", "--filter", "width=999")
    assert result.code == 0 and "no runs match" in result.stderr and result.stdout.strip() == ""


def test_limit_keeps_the_newest_rows(cli, lab):
    runs = cli("list", "--json").json["runs"]
    assert cli("list", "--limit", "2", "--json").json["runs"] == runs[-2:]


def test_removing_a_parent_names_its_children(cli, lab):
    a, b, _ = lab
    child = cli("train", "--width", "8", "--depth", "1", "--epochs", "1", "--init-from", f"{a}@1", "--json")
    child_id = child.json["runs"][0]["id"]
    result = cli("rm", a, "--json")
    assert result.code == 0 and child_id in result.json["removed"]["children"]


def test_show_prints_the_training_config_and_help_is_plain(cli, lab):
    a, _, _ = lab
    shown = cli("show", a)
    assert shown.code == 0
    for field in ("momentum", "weight_decay", "schedule", "warmup_epochs", "batch_size"):
        assert field in shown.stdout
    help_text = cli("train", "--help", use_home=False).stdout
    assert "<bool>" not in help_text and "cifar10" in help_text and "fashion-mnist" in help_text


def test_the_installed_script_after_a_read_only_command_leaves_with_its_output_whole(tmp_path):
    """`lmctui-cli` leaves at once after list/show/export (no heap teardown): the output is all
    there, the exit code is the command's, and a refusal is still one line."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tui_helpers import sample_registry

    home = tmp_path / "home"
    sample_registry(home)
    script = Path(sys.executable).parent / "lmctui-cli"

    def run(*args):
        return subprocess.run([str(script), *args, "--home", str(home)], capture_output=True, text=True, timeout=60)

    listed = run("list", "--json")
    assert listed.returncode == 0 and sorted(r["id"] for r in json.loads(listed.stdout)["runs"]) == [
        "aaa222", "bbb333", "ccc444", "ddd555"]
    shown = run("show", "ccc444", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["run"]["width"] == 64
    refused = run("show", "zzz999")
    assert refused.returncode == 2 and refused.stdout == "" and len(refused.stderr.splitlines()) == 1
    exported = run("export", "runs", "--out", str(tmp_path / "runs.csv"))
    assert exported.returncode == 0 and len((tmp_path / "runs.csv").read_text().splitlines()) == 5
