"""The Slurm path without a cluster: the task body, the settling of states, submission through
submitit's LocalExecutor (a real pickled task in a subprocess, the registry shared)."""

import os
import time

import pytest

from lmctui.configs import DataConfig, TrainConfig
from lmctui.errors import WorkFailed
from lmctui.service.slurm.settings import ClusterSettings
from lmctui.service.requests import InterpRequest, SweepRequest, TrainRequest
from lmctui.service.slurm.state import job_fields, refresh
from lmctui.service.slurm.submit import job_document, submit, task_requests
from lmctui.service.slurm.task import run_task
from lmctui.store import Registry
from lmctui.store.registry import HOST

TINY = TrainRequest(width=8, depth=1, seeds=(0, 1), train=TrainConfig(epochs=2), device="cpu")


def test_what_trains_together_is_one_array_task():
    assert len(task_requests(TINY)[0]) == 1
    assert [r.seeds for r in task_requests(TrainRequest(seeds=(0, 1, 2), vectorize=False))[0]] == [(0,), (1,), (2,)]
    cnn = TrainRequest(DataConfig("digits"), arch="vgg", norm="batch", seeds=(0, 1))
    assert len(task_requests(cnn)[0]) == 2  # BatchNorm CNNs train one seed at a time
    sweep = SweepRequest(TINY, "width", (4, 8, 16))
    tasks, final = task_requests(sweep)
    assert [t.width for t in tasks] == [4, 8, 16] and final is sweep
    assert task_requests(InterpRequest("a", "b")) == ([InterpRequest("a", "b")], None)


def insert_job(registry, request, **fields):
    [doc] = registry.insert_many("jobs", [{**job_document(request, ClusterSettings()), **fields}])
    return doc


def test_a_task_runs_the_job_into_the_registry_and_owns_its_runs(tmp_path):
    registry = Registry(tmp_path / "home")
    job = insert_job(registry, TINY)
    assert run_task(str(registry.home), job["id"]) == {"job": job["id"], "status": "done"}
    job = registry.get("jobs", job["id"])
    assert job["status"] == "done" and job["pid"] is None and job["host"] is None  # never an orphan by pid
    runs = [registry.get("runs", i) for i in job["result"]["runs"]]
    assert [r["status"] for r in runs] == ["done", "done"]
    assert {(r["host"], r["pid"]) for r in runs} == {(job["slurm_host"], job["slurm_pid"])} == {(HOST, os.getpid())}


def test_a_task_that_raises_records_why_and_raises_for_slurm(tmp_path):
    registry = Registry(tmp_path / "home")
    bad = TrainRequest(DataConfig("mnist", data_dir=str(tmp_path / "none")), seeds=(0,), device="cpu")
    job = insert_job(registry, bad)
    with pytest.raises(Exception):
        run_task(str(registry.home), job["id"])
    job = registry.get("jobs", job["id"])
    assert job["status"] == "failed" and job["error"]
    assert not [r for r in registry.all("runs") if r["status"] == "running"]


def test_a_final_job_refuses_to_start_when_its_training_did_not_finish(tmp_path):
    registry = Registry(tmp_path / "home")
    train = insert_job(registry, TINY, status="cancelled", error="Slurm: CANCELLED (scancel)")
    final = insert_job(registry, SweepRequest(TINY, "width", (8,)), slurm_depends_on=[train["id"]])
    with pytest.raises(WorkFailed, match=f"training job {train['id']} is cancelled"):
        run_task(str(registry.home), final["id"])
    assert registry.get("sweeps", "x") is None and registry.all("sweeps") == []


def sacct(**states):
    return lambda ids: {i: {"State": states[i], "ExitCode": "1:0", "Reason": "None"} for i in ids if i in states}


def test_slurm_states_settle_jobs_and_the_runs_their_tasks_left(tmp_path):
    registry = Registry(tmp_path / "home")
    cancelled = insert_job(registry, TINY, slurm_job_id="7_0", status="running", slurm_host="node9", slurm_pid=42)
    timed_out = insert_job(registry, TINY, slurm_job_id="7_1", status="running", slurm_host="node9", slurm_pid=43)
    failed = insert_job(registry, TINY, slurm_job_id="8", status="failed", error="ValueError: boom")
    pending = insert_job(registry, TINY, slurm_job_id="9", slurm_state="PENDING", message="pending")
    [left, other] = registry.insert_many("runs", [{"status": "running", "host": "node9", "pid": 42},
                                                  {"status": "running", "host": "node9", "pid": 44}])
    states = sacct(**{"7_0": "CANCELLED by 0", "7_1": "TIMEOUT", "8": "FAILED", "9": "PENDING"})
    assert set(refresh(registry, states)) == {cancelled["id"], timed_out["id"], failed["id"]}
    get = lambda doc: registry.get("jobs", doc["id"])  # noqa: E731
    assert (get(cancelled)["status"], get(cancelled)["slurm_state"]) == ("cancelled", "CANCELLED")
    assert get(timed_out)["status"] == "interrupted" and "TIMEOUT" in get(timed_out)["error"]
    assert get(failed)["error"] == "ValueError: boom" and get(failed)["slurm_settled"]  # the task's own reason kept
    assert get(pending)["status"] == "pending" and not get(pending)["slurm_settled"]
    left, other = registry.get("runs", left["id"]), registry.get("runs", other["id"])
    assert left["status"] == "interrupted" and "CANCELLED" in left["error"]
    assert other["status"] == "running"  # another process's run: not this task's to settle
    assert refresh(registry, states) == []  # settled jobs are not asked about again


def test_sacct_lagging_behind_a_started_task_changes_nothing():
    assert job_fields({"status": "running", "slurm_state": "RUNNING"}, {"State": "PENDING"}) == {}
    assert job_fields({"status": "pending", "slurm_state": "PENDING"}, {"State": "RUNNING"})["status"] == "running"


def test_submission_through_submitit_local_executor(tmp_path):
    registry = Registry(tmp_path / "home")
    docs = submit(registry, TrainRequest(width=8, depth=1, seeds=(0, 1), train=TrainConfig(epochs=2), device="cpu",
                                         vectorize=False), ClusterSettings(time=5), cluster="local")
    assert len(docs) == 2 and all(d["slurm_job_id"] and d["slurm_folder"] for d in docs)
    assert docs[0]["slurm_folder"].startswith(str(registry.home.resolve() / "slurm" / docs[0]["id"]))
    deadline = time.monotonic() + 120
    while any(registry.get("jobs", d["id"])["status"] not in ("done", "failed") for d in docs):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    finished = [registry.get("jobs", d["id"]) for d in docs]
    assert [d["status"] for d in finished] == ["done", "done"], [d["error"] for d in finished]
    assert [registry.get("runs", d["result"]["runs"][0])["seed"] for d in finished] == [0, 1]
