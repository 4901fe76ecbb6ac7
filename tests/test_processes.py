"""The real `lmctui-cli` in subprocesses: concurrency, Ctrl-C, kills and start-up."""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, cli_subprocess
from lmctui.store import Registry
from lmctui.store.runfiles import METRICS, read_metrics

pytestmark = pytest.mark.slow


def test_two_processes_training_into_one_home_lose_no_runs(home):
    args = ["train", "--width", "8", "--seeds", "0-2", "--epochs", "3", "--json"]
    procs = [cli_subprocess(args, home) for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outputs]
    reported = {r["id"] for out, _ in outputs for r in json.loads(out)["runs"]}
    stored = Registry(home).all("runs")
    assert len(reported) == 6 and {d["id"] for d in stored} == reported
    assert all(d["status"] == "done" for d in stored)


def _wait_for_metrics(home, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        runs = Registry(home).all("runs") if (home / "registry.json").exists() else []
        if runs and read_metrics(home / "runs" / runs[0]["id"] / METRICS):
            return runs[0]["id"]
        time.sleep(0.1)
    raise AssertionError("training never wrote a metric")


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "interrupted")])
def test_interrupted_run_is_marked_and_keeps_its_metrics(home, signum, status):
    proc = cli_subprocess(["train", "--dataset", "digits", "--width", "32", "--epochs", "5000"], home)
    run_id = _wait_for_metrics(home, proc)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    doc = Registry(home).get("runs", run_id)
    assert doc["status"] == status
    metrics = read_metrics(home / "runs" / run_id / METRICS)
    assert metrics and doc["epochs_done"] == metrics[-1]["epoch"] >= 1


def test_killed_run_is_marked_interrupted_on_next_start(home, cli):
    proc = cli_subprocess(["train", "--dataset", "digits", "--width", "32", "--epochs", "5000"], home)
    run_id = _wait_for_metrics(home, proc)
    proc.kill()
    proc.wait(timeout=30)
    assert Registry(home).get("runs", run_id)["status"] == "running"
    runs = cli("list", "--json").json["runs"]
    assert [r["status"] for r in runs] == ["interrupted"]
    assert read_metrics(home / "runs" / run_id / METRICS)


def test_cli_help_is_fast_because_torch_is_not_imported():
    code = "import sys, lmctui.cli, lmctui.tui.app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
    result = subprocess.run([sys.executable, "-m", "lmctui.cli", "--help"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and "train" in result.stdout
