"""A sweep job interrupted half way and run again (a local worker's `jobs --requeue`) takes up its runs
from their resume states and its pairs from the curves already stored: nothing is trained or measured
twice, and the rows are those of a sweep that never stopped."""

import pytest

JOB = "sweepjob"  # the job both attempts run for, as a worker passes it


def sweep_request():
    from lmctui.configs import DataConfig, TrainConfig
    from lmctui.service.requests import SweepRequest, TrainRequest

    base = TrainRequest(DataConfig("moons"), "mlp", 8, 1, "none", TrainConfig(epochs=3), seeds=(0, 1, 2),
                        device="cpu")
    return SweepRequest(base, "width", (4, 8), ("naive", "weight"), points=5)


def trained(registry) -> dict:
    return {r["id"]: r for r in registry.all("runs") if r["kind"] == "trained"}


def without_runs(rows):
    return [{k: v for k, v in r.items() if k not in ("run_a", "run_b")} for r in rows]


def test_a_sweep_job_run_again_takes_up_its_runs_and_curves(tmp_path):
    from lmctui.core.training import Cancelled
    from lmctui.service.sweeps import run_sweep
    from lmctui.store import Registry

    registry = Registry(tmp_path / "home")
    armed, calls = [], []

    def stop_in_the_second_value():  # asked between batches: stop inside width 8's second epoch
        if armed:
            calls.append(1)
        return "interrupted" if len(calls) > 20 else None

    def progress(fraction, text):
        if text.startswith("width=8: training"):
            armed.append(text)

    with pytest.raises(Cancelled):
        run_sweep(registry, sweep_request(), stop_in_the_second_value, progress, job=JOB)
    first_runs = trained(registry)
    first_curves = {c["id"] for c in registry.all("curves")}
    stopped = [r for r in first_runs.values() if r["status"] == "interrupted"]
    assert len(first_runs) == 6 and len(stopped) == 3 and len(first_curves) == 3 * 2  # width 4: 3 pairs, 2 methods
    assert all(r["width"] == 8 and r["resume_sha256"] for r in stopped)

    again = run_sweep(registry, sweep_request(), job=JOB)
    runs = trained(registry)
    assert set(runs) == set(first_runs) and all(r["status"] == "done" for r in runs.values())  # none made anew
    assert all(runs[r["id"]]["resumed_from_epoch"] >= 1 for r in stopped)  # from their states, not from scratch
    assert all(first_runs[i]["finished"] == runs[i]["finished"] for i in first_runs if i not in
               {r["id"] for r in stopped})  # width 4's runs untouched
    curves = registry.all("curves")
    assert len(curves) == 2 * 3 * 2 and first_curves <= {c["id"] for c in curves}  # width 4's pairs not again
    assert len(registry.all("alignments")) == 2 * 3  # one weight matching per pair and width

    straight = run_sweep(Registry(tmp_path / "straight"), sweep_request())
    assert without_runs(again["rows"]) == without_runs(straight["rows"])
    assert again["summary"] == straight["summary"]
