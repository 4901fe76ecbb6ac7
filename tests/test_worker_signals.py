"""`lmctui-cli worker` stopped by a signal marks its job and runs interrupted, then exits 128 + signal."""

import signal
import time

import pytest

from conftest import cli_subprocess
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
