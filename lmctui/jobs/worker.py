"""Worker loops that drain the job queue: in the app's threads or in `lmctui-cli worker`.

One GPU-bound job per device at a time (across every process sharing the registry);
CPU jobs up to `cpu_slots` per process, counted across all of its workers.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from lmctui.jobs.queue import JobQueue

POLL_SECONDS = 0.5
CANCEL_POLL_SECONDS = 1.0

# execute(job, should_stop, on_progress(fraction, message)) -> result dict
Executor = Callable[[dict, Callable[[], "str | None"], Callable[[float, str], None]], dict]


class DevicePolicy:
    """Which device a job may run on now; shared by every worker of one process."""

    def __init__(self, cpu_slots: int = 1, cuda_available: Callable[[], list[str]] = lambda: []):
        self.cpu_slots = cpu_slots
        self.cuda_available = cuda_available  # names like "cuda:0"
        self.cpu_jobs = 0  # CPU jobs running in this process
        self._lock = threading.Lock()

    def accept(self, job: dict, running: list[dict]) -> str | None:
        """The device to run `job` on now, or None to leave it queued."""
        wanted = job.get("device") or "auto"
        gpus = self.cuda_available() if wanted != "cpu" else []
        if wanted == "auto":
            wanted = gpus[0] if gpus else "cpu"
        if wanted == "cuda":
            wanted = "cuda:0"
        if wanted == "cpu":
            return "cpu" if self.cpu_jobs < self.cpu_slots else None
        if wanted not in gpus:
            return None  # a worker without that GPU leaves the job to one that has it
        busy = {j.get("device_used") for j in running}
        return wanted if wanted not in busy else None

    def claim(self, queue: JobQueue, worker: str) -> dict | None:
        """Claim the next job this process may run, counting it against the CPU slots."""
        with self._lock:
            job = queue.claim(self.accept, worker)
            if job is not None and job["device_used"] == "cpu":
                self.cpu_jobs += 1
            return job

    def release(self, job: dict) -> None:
        with self._lock:
            self.cpu_jobs -= job["device_used"] == "cpu"


class Worker:
    """Claims and runs jobs until stopped. Safe to run several in one process."""

    def __init__(self, queue: JobQueue, execute: Executor, policy: DevicePolicy, name: str,
                 on_change: Callable[[], None] | None = None):
        self.queue, self.execute, self.policy, self.name = queue, execute, policy, name
        self.on_change = on_change or (lambda: None)
        self.local_cancel: set[str] = set()  # job ids cancelled from this process
        self.stopping = threading.Event()  # set at shutdown: running jobs stop between batches
        self.error: Exception | None = None  # why the worker stopped, if the queue failed

    def run_one(self) -> dict | None:
        """Claim one job and run it to the end; None when nothing could be claimed."""
        job = self.policy.claim(self.queue, self.name)
        if job is None:
            return None
        self.on_change()
        try:
            return self._run(job)
        finally:
            self.policy.release(job)
            self.on_change()

    def run_until(self, stop: threading.Event, idle_exit: bool = False) -> None:
        """Run jobs until `stop` (or, with `idle_exit`, until none can be claimed).

        If the queue itself fails (the registry became unreadable under the worker), the
        worker stops and keeps the error in `error` for its owner to report.
        """
        try:
            while not stop.is_set() and not self.stopping.is_set():
                if self.run_one() is None:
                    if idle_exit:
                        return
                    stop.wait(POLL_SECONDS)
        except Exception as err:
            self.error = err

    def _run(self, job: dict) -> dict:
        started = time.monotonic()
        last_poll = [0.0]
        told_to_stop = threading.Event()

        def stop_status() -> str:
            return "interrupted" if self.stopping.is_set() else "cancelled"

        def should_stop() -> str | None:
            """None to go on, else the status the stopped work should record."""
            if self.stopping.is_set() or job["id"] in self.local_cancel:
                told_to_stop.set()
            elif time.monotonic() - last_poll[0] > CANCEL_POLL_SECONDS:
                last_poll[0] = time.monotonic()
                if self.queue.cancel_requested(job["id"]):
                    told_to_stop.set()
            return stop_status() if told_to_stop.is_set() else None

        reached = ["before its first step"]

        def on_progress(fraction: float, message: str) -> None:
            reached[0] = f"at {message}" if message else reached[0]
            self.queue.progress(job["id"], fraction, message, started)
            self.on_change()

        try:
            result = self.execute(job, should_stop, on_progress)
        except KeyboardInterrupt:
            self.queue.finish(job["id"], "interrupted", error=f"interrupted {reached[0]}")
            raise
        except Exception as err:  # a failing job is recorded, never fatal to the worker
            if told_to_stop.is_set():
                self.queue.finish(job["id"], stop_status(), error=f"{stop_status()} {reached[0]}")
            else:
                self.queue.finish(job["id"], "failed", error=f"{type(err).__name__}: {err}")
            return self.queue.registry.get("jobs", job["id"])
        self.queue.finish(job["id"], "done", result=result)
        return self.queue.registry.get("jobs", job["id"])
