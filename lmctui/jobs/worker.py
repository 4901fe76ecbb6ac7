"""Worker loops that drain the job queue: in the TUI's threads or in `lmctui-cli worker`.

One GPU-bound job per device at a time (across every process sharing the registry);
CPU jobs up to `cpu_slots` per worker process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from lmctui.jobs.queue import JobQueue

POLL_SECONDS = 0.5
CANCEL_POLL_SECONDS = 1.0

# execute(job, should_stop, on_progress(fraction, message)) -> result dict
Executor = Callable[[dict, Callable[[], bool], Callable[[float, str], None]], dict]


@dataclass
class DevicePolicy:
    """Which device a job may run on now, given the jobs already running."""

    cpu_slots: int = 1
    cuda_available: Callable[[], list[str]] = lambda: []  # names like "cuda:0"

    def accept(self, job: dict, running: list[dict], local_cpu_jobs: int) -> str | None:
        wanted = job.get("device") or "auto"
        gpus = self.cuda_available()
        if wanted == "auto":
            wanted = gpus[0] if gpus else "cpu"
        if wanted == "cuda":
            wanted = "cuda:0"
        if wanted == "cpu":
            return "cpu" if local_cpu_jobs < self.cpu_slots else None
        if wanted not in gpus:
            return None  # a worker without that GPU leaves the job to one that has it
        busy = {j.get("device_used") for j in running}
        return wanted if wanted not in busy else None


class Worker:
    """Claims and runs jobs until stopped. Safe to run several in one process."""

    def __init__(self, queue: JobQueue, execute: Executor, policy: DevicePolicy, name: str,
                 on_change: Callable[[], None] | None = None):
        self.queue, self.execute, self.policy, self.name = queue, execute, policy, name
        self.on_change = on_change or (lambda: None)
        self.local_cancel: set[str] = set()  # job ids cancelled from this process
        self.stopping = threading.Event()  # set at shutdown: running jobs stop between batches
        self._cpu_jobs = 0
        self._lock = threading.Lock()

    def run_one(self) -> dict | None:
        """Claim one job and run it to the end; None when nothing could be claimed."""
        with self._lock:
            job = self.queue.claim(lambda j, running: self.policy.accept(j, running, self._cpu_jobs), self.name)
            if job is None:
                return None
            on_cpu = job["device_used"] == "cpu"
            self._cpu_jobs += on_cpu
        self.on_change()
        try:
            return self._run(job)
        finally:
            with self._lock:
                self._cpu_jobs -= on_cpu
            self.on_change()

    def run_until(self, stop: threading.Event, idle_exit: bool = False) -> None:
        while not stop.is_set():
            if self.run_one() is None:
                if idle_exit:
                    return
                stop.wait(POLL_SECONDS)

    def _run(self, job: dict) -> dict:
        started = time.monotonic()
        last_poll = [0.0]
        told_to_stop = threading.Event()

        def should_stop() -> str | None:
            """None to go on, else the status the stopped work should record."""
            if self.stopping.is_set() or job["id"] in self.local_cancel:
                told_to_stop.set()
            elif time.monotonic() - last_poll[0] > CANCEL_POLL_SECONDS:
                last_poll[0] = time.monotonic()
                if self.queue.cancel_requested(job["id"]):
                    told_to_stop.set()
            if not told_to_stop.is_set():
                return None
            return "interrupted" if self.stopping.is_set() else "cancelled"

        def on_progress(fraction: float, message: str) -> None:
            self.queue.progress(job["id"], fraction, message, started)
            self.on_change()

        try:
            result = self.execute(job, should_stop, on_progress)
        except KeyboardInterrupt:
            self.queue.finish(job["id"], "interrupted", error="interrupted")
            raise
        except Exception as err:  # a failing job is recorded, never fatal to the worker
            if told_to_stop.is_set():
                status = "interrupted" if self.stopping.is_set() else "cancelled"
                self.queue.finish(job["id"], status)
            else:
                self.queue.finish(job["id"], "failed", error=f"{type(err).__name__}: {err}")
            return self.queue.registry.get("jobs", job["id"])
        self.queue.finish(job["id"], "done", result=result)
        return self.queue.registry.get("jobs", job["id"])

