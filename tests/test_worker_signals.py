"""`lmctui-cli worker`, and a foreground `train`, stopped by a signal: the job and runs are marked
interrupted, then the process exits 128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""

import signal
import time

import pytest

from conftest import cli_subprocess
from lmctui.store.runfiles import METRICS, read_metrics
from lmctui.service.catalog import open_registry

pytestmark = pytest.mark.slow


def wait_until(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_stops_its_job_cleanly_on_a_signal(cli, home, signum):
    queued = cli("train", "--dataset", "digits", "--width", "256", "--epochs", "100000", "--queue", "--json")
    assert queued.code == 0, queued.stderr
    worker = cli_subprocess(["worker"], home)
    registry = open_registry(home)
    assert wait_until(lambda: (cli("jobs", "--json").json["jobs"][0].get("progress") or 0) > 0), "training never began"
    worker.send_signal(signum)
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 128 + signum, stderr
    [job] = registry.all("jobs")
    [run] = registry.all("runs")
    assert job["status"] == "interrupted" and run["status"] == "interrupted"
    assert 1 <= run["epochs_done"] < 100000


def test_a_killed_workers_job_is_marked_by_a_live_worker(cli, home):
    """kill -9 of worker A while worker B keeps running: B's periodic check marks A's job and run."""
    idle = cli_subprocess(["worker"], home)  # one of the two takes the job; the other keeps watching
    doomed = None
    registry = open_registry(home)
    try:
        time.sleep(1.0)
        queued = cli("train", "--dataset", "digits", "--width", "256", "--epochs", "100000", "--device", "cpu",
                     "--queue", "--json").json["job"]
        doomed = cli_subprocess(["worker", "--cpu-slots", "1"], home)
        assert wait_until(lambda: registry.get("jobs", queued["id"])["status"] == "running")
        owner = registry.get("jobs", queued["id"])["pid"]
        victim = doomed if owner == doomed.pid else idle
        victim.kill()
        victim.wait(10)
        assert wait_until(lambda: registry.get("jobs", queued["id"])["status"] == "interrupted", 40)
        assert wait_until(lambda: all(r["status"] == "interrupted" for r in registry.all("runs")), 10)
    finally:
        for process in (idle, doomed):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=60)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_foreground_train_exits_128_plus_the_signal(cli, home, signum):
    """The same codes as the worker: a script or a scheduler tells a kill (143) from Ctrl-C (130)."""
    proc = cli_subprocess(["train", "--dataset", "digits", "--width", "32", "--epochs", "100000"], home)
    registry = None

    def metrics_written():
        nonlocal registry
        assert proc.poll() is None, proc.stderr.read()
        if registry is None and (home / "registry.json").exists():
            registry = open_registry(home)
        runs = registry.all("runs") if registry is not None else []
        return bool(runs) and bool(read_metrics(home / "runs" / runs[0]["id"] / METRICS))

    assert wait_until(metrics_written), "training never wrote a metric"
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr  # one line, no traceback
    [run] = registry.all("runs")
    assert run["status"] == "interrupted" and 1 <= run["epochs_done"] < 100000
