"""What a command imports is what it pays for before it works (issue 23).

A plain `train` on digits imports neither torch._dynamo (constructing a torch.optim
optimizer would: 1 to 1.7 s) nor scikit-learn (0.9 s: the digits come from a cache);
`list` and `show` import no torch at all. Refusals: tests/test_layers.py.
"""

import json
import subprocess
import sys

import pytest

from lmctui.core.digits import load_digits_arrays

NEVER_IN_TRAIN = ("torch._dynamo", "sklearn", "scipy", "torchvision", "textual", "matplotlib")
NEVER_IN_LISTINGS = ("torch", "numpy", "scipy", "sklearn", "textual")


def run_cli(*args: str) -> tuple[int, str, set[str]]:
    """Run the CLI in a fresh interpreter; return (exit code, stdout, every module it imported)."""
    code = ("import sys, json\n"
            "from lmctui.cli import main\n"
            "try:\n    main()\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print('\\nMODULES ' + json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    out, _, report = done.stdout.rpartition("\nMODULES ")
    result = json.loads(report)
    return result["code"], out, set(result["modules"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A home with two digits runs, trained by a `train` process; (home, its modules, a run id)."""
    load_digits_arrays()  # the session's cache holds the digits, as after a user's first load
    home = tmp_path_factory.mktemp("imports") / "home"
    code, out, modules = run_cli("train", "--dataset", "digits", "--width", "8", "--seeds", "0-1", "--epochs", "1",
                                 "--json", "--home", str(home))
    assert code in (0, None), out
    return home, modules, json.loads(out)["runs"][0]["id"]


def test_a_plain_train_on_digits_imports_no_dynamo_and_no_sklearn(trained):
    _, modules, _ = trained
    assert "torch" in modules  # it did train
    assert [m for m in modules if m.split(".")[0] in NEVER_IN_TRAIN or m.startswith("torch._dynamo")] == []


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["show", "RUN"], ["show", "RUN", "--json"]],
                         ids=["list", "list --json", "show", "show --json"])
def test_listing_and_showing_runs_import_no_torch(trained, args):
    home, _, run_id = trained
    code, out, modules = run_cli(*[run_id if a == "RUN" else a for a in args], "--home", str(home))
    assert code in (0, None) and run_id in out
    assert sorted(m for m in modules if m.split(".")[0] in NEVER_IN_LISTINGS) == []
