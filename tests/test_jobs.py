import threading
import time

import pytest

from lmctui.errors import UserError
from lmctui.jobs.queue import JobQueue
from lmctui.jobs.worker import DevicePolicy, Worker
from lmctui.store import Registry


@pytest.fixture
def queue(home):
    return JobQueue(Registry(home))


def fake_worker(queue, execute, cpu_slots=1, gpus=()):
    return Worker(queue, execute, DevicePolicy(cpu_slots, lambda: list(gpus)), "test")


def test_jobs_run_in_submission_order_and_record_results(queue):
    order = []
    first = queue.submit("align", {"n": 1}, "cpu")
    second = queue.submit("align", {"n": 2}, "cpu")
    worker = fake_worker(queue, lambda job, stop, progress: order.append(job["params"]["n"]) or {"n": job["params"]["n"]})
    worker.run_until(threading.Event(), idle_exit=True)
    assert order == [1, 2]
    done = {j["id"]: j for j in queue.jobs()}
    assert done[first["id"]]["status"] == "done" and done[second["id"]]["result"] == {"n": 2}
    assert done[first["id"]]["progress"] == 1.0 and done[first["id"]]["device_used"] == "cpu"


def test_a_failing_job_is_marked_failed_and_the_worker_goes_on(queue):
    bad = queue.submit("align", {}, "cpu")
    good = queue.submit("align", {}, "cpu")

    def execute(job, stop, progress):
        if job["id"] == bad["id"]:
            raise ValueError("runs differ in width")
        return {}

    fake_worker(queue, execute).run_until(threading.Event(), idle_exit=True)
    jobs = {j["id"]: j for j in queue.jobs()}
    assert jobs[bad["id"]]["status"] == "failed" and "differ in width" in jobs[bad["id"]]["error"]
    assert jobs[good["id"]]["status"] == "done"


def test_cancel_and_requeue(queue):
    queued = queue.submit("train", {}, "cpu")
    assert queue.cancel(queued["id"][:3])["status"] == "cancelled"
    with pytest.raises(UserError, match="nothing to cancel"):
        queue.cancel(queued["id"])
    assert queue.requeue(queued["id"])["status"] == "queued"
    with pytest.raises(UserError, match="only failed"):
        queue.requeue(queued["id"])


def test_a_running_job_stops_between_batches_when_cancelled(queue):
    job = queue.submit("train", {}, "cpu")
    started = threading.Event()

    def execute(job, should_stop, progress):
        started.set()
        while not should_stop():
            time.sleep(0.01)
        raise RuntimeError("Cancelled")

    thread = threading.Thread(target=fake_worker(queue, execute).run_one)
    thread.start()
    assert started.wait(10)
    assert queue.cancel(job["id"])["cancel_requested"]
    thread.join(10)
    assert queue.registry.get("jobs", job["id"])["status"] == "cancelled"


def test_one_gpu_job_per_device_and_cpu_slots():
    policy = DevicePolicy(cpu_slots=2, cuda_available=lambda: ["cuda:0"])
    running = [{"device_used": "cuda:0"}]
    assert policy.accept({"device": "auto"}, []) == "cuda:0"
    assert policy.accept({"device": "cuda:0"}, running) is None
    assert policy.accept({"device": "cuda:1"}, []) is None
    policy.cpu_jobs = 1
    assert policy.accept({"device": "cpu"}, running) == "cpu"
    policy.cpu_jobs = 2
    assert policy.accept({"device": "cpu"}, running) is None
    assert DevicePolicy(1, lambda: []).accept({"device": "auto"}, []) == "cpu"


def test_cpu_slots_count_every_worker_of_the_process(queue):
    """Two worker threads sharing one slot never run two CPU jobs at once."""
    for n in range(4):
        queue.submit("align", {"n": n}, "cpu")
    policy = DevicePolicy(cpu_slots=1)
    lock, active, most = threading.Lock(), [0], [0]

    def execute(job, stop, progress):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return {}

    workers = [Worker(queue, execute, policy, f"w{i}") for i in range(2)]
    threads = [threading.Thread(target=w.run_until, args=(threading.Event(), True)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [j["status"] for j in queue.jobs()] == ["done"] * 4
    assert most[0] == 1 and policy.cpu_jobs == 0


def test_progress_writes_are_throttled_and_carry_an_eta(queue):
    job = queue.submit("train", {}, "cpu")
    start = time.monotonic() - 10
    queue.progress(job["id"], 0.5, "half", start)
    queue.progress(job["id"], 0.6, "ignored: too soon", start)
    stored = queue.registry.get("jobs", job["id"])
    assert stored["message"] == "half" and stored["eta_s"] == pytest.approx(10, abs=0.5)


def test_nested_registry_locks_do_not_deadlock(queue):
    with queue.registry.locked():
        with queue.registry.locked():
            queue.submit("train", {}, "cpu")
    assert len(queue.jobs()) == 1
