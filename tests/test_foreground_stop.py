"""Ctrl-C or SIGTERM to a command working in the foreground stops the work at its next step, as the
worker's jobs stop: a training keeps a resume state of the batch it reached, then the command ends
with 128 + the signal and one line."""

import json
import signal
import threading

import pytest

from conftest import cli_subprocess


def wait_for(found, seconds=120):
    for _ in range(int(seconds * 10)):
        if found():
            return True
        threading.Event().wait(0.1)
    return False


def metrics_rows(home) -> int:
    return sum(len(p.read_text().splitlines()) for p in (home / "runs").glob("*/metrics.jsonl"))


@pytest.mark.parametrize("signum, code, said", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_a_foreground_training_told_to_stop_keeps_the_batch_it_reached(home, signum, code, said):
    from lmctui.service.resume import load_state, resume_path
    from lmctui.store import Registry

    train = cli_subprocess(["train", "--dataset", "moons", "--width", "8", "--depth", "1", "--seeds", "0,1",
                            "--epochs", "100000", "--batch-size", "8"], home)
    assert wait_for(lambda: (home / "runs").is_dir() and metrics_rows(home) >= 2 * 2), train.stderr
    train.send_signal(signum)
    _, stderr = train.communicate(timeout=60)
    assert train.returncode == code and stderr.strip().splitlines()[-1] == said, stderr
    assert "Traceback" not in stderr
    runs = Registry(home).all("runs")
    assert len(runs) == 2 and {r["status"] for r in runs} == {"interrupted"}
    for run in runs:
        epoch = max(int(e) for e in run["resume_sha256"])
        state = load_state(resume_path(Registry(home).run_dir(run["id"]), epoch), run["resume_sha256"][str(epoch)])
        rows = [json.loads(line) for line in (Registry(home).run_dir(run["id"]) / "metrics.jsonl").open()]
        assert state.epoch == len(rows) >= 2  # where it stopped, past every epoch it logged


def test_consistency_stops_at_the_check_that_says_so(cli, home):
    """`consistency` asks between pairs, rounds and alphas (the check a foreground Ctrl-C turns true)."""
    from lmctui.core.stopping import Cancelled
    from lmctui.service.consistency import consistency
    from lmctui.service.stopping import stopping
    from lmctui.store import Registry

    trained = cli("train", "--dataset", "moons", "--width", "8", "--depth", "1", "--seeds", "0-2", "--epochs", "1",
                  "--json").json["runs"]
    ids = [r["id"] for r in trained]
    asked = []
    with stopping(lambda: asked.append(1)):  # never says stop: count the checks of a whole measurement
        consistency(Registry(home), ids)
    whole = len(asked)
    for last in (1, whole // 2, whole):
        asked.clear()
        with stopping(lambda: "interrupted" if asked.append(1) or len(asked) >= last else None), \
                pytest.raises(Cancelled):
            consistency(Registry(home), ids)
        assert len(asked) == last  # nothing more was asked, nor done, after the check that said stop
