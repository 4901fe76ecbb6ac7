"""Job progress lives outside the jobs table and reads back as the same document fields."""

import time

import pytest

from lmctui.jobs.queue import JobQueue
from lmctui.store import Registry


def table_files(home):
    return {p.name: p.read_bytes() for p in (home / "tables").glob("jobs.*")}


def running_job(queue):
    job = queue.submit("train", {}, "cpu")
    claimed = queue.claim(lambda job, running: "cpu", "w")
    assert claimed["id"] == job["id"]
    return job


def test_progress_writes_leave_the_jobs_table_alone_and_read_back_as_fields(home):
    queue = JobQueue(Registry(home))
    job = running_job(queue)
    before = table_files(home)
    start = time.monotonic() - 30
    for step, fraction in enumerate((0.25, 0.5)):
        queue._last_write.clear()  # past the throttle
        queue.progress(job["id"], fraction, f"step {step}", start)
    assert table_files(home) == before
    for seen in (queue.jobs()[0], Registry(home).get("jobs", job["id"]), Registry(home).all("jobs")[0]):
        assert (seen["progress"], seen["message"], seen["status"]) == (0.5, "step 1", "running")
        assert seen["eta_s"] == pytest.approx(30, abs=1)
    assert Registry(home).progress([job["id"], "zzzzzz"]) == {
        job["id"]: {"progress": 0.5, "message": "step 1", "eta_s": pytest.approx(30, abs=1)}}


def test_a_status_change_folds_the_live_progress_into_the_document(home):
    registry = Registry(home)
    queue = JobQueue(registry)
    job = running_job(queue)
    queue.progress(job["id"], 0.4, "epoch 4/10", time.monotonic() - 4)
    queue.cancel(job["id"])  # asked to stop: its message says so, its bar stays where it was
    seen = registry.get("jobs", job["id"])
    assert (seen["message"], seen["progress"], seen["cancel_requested"]) == ("cancelling", 0.4, True)
    queue._last_write.clear()
    queue.progress(job["id"], 0.5, "epoch 5/10", time.monotonic() - 5)
    queue.finish(job["id"], "failed", error="boom")
    stored = Registry(home).get("jobs", job["id"])
    assert (stored["status"], stored["progress"], stored["message"], stored["eta_s"]) == ("failed", 0.5, "epoch 5/10", None)
    assert registry.progress() == {}
    requeued = queue.requeue(job["id"])
    assert (requeued["progress"], requeued["message"]) == (0.0, "")


def test_many_jobs_progress_reads_in_one_call(home):
    registry = Registry(home)
    jobs = registry.insert_many("jobs", [{"status": "running"} for _ in range(20)])
    for k, job in enumerate(jobs):
        registry.write_progress(job["id"], k / 20, f"job {k}", eta_s=float(k))
    live = registry.progress()
    assert live == {job["id"]: {"progress": k / 20, "message": f"job {k}", "eta_s": float(k)} for k, job in enumerate(jobs)}
    registry.remove("jobs", jobs[0]["id"])
    assert jobs[0]["id"] not in registry.progress()
    with pytest.raises(ValueError):
        registry.write_progress("../../x", 0.1, "a path is not an id")
