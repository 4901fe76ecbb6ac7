"""The job system as both interfaces use it: submit, cancel, re-queue, list, run workers.

The CLI and the app never touch `lmctui.jobs` or `lmctui.store` themselves: they hold
a `Jobs`. Nothing here imports torch; the work does, inside the worker threads.

A job runs where its placement put it (`service/placements.py`): the local queue for the
workers here, or another placement (Slurm); all are registry jobs, listed, cancelled and
re-queued through the same methods, which ask the job's placement. The states of jobs
that run elsewhere reach the registry through `refresh_cluster`, which a background
thread calls while workers run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from lmctui.errors import UserError
from lmctui.jobs.queue import JobQueue
from lmctui.jobs.worker import DevicePolicy, Worker
from lmctui.service.placements import PLACEMENTS, placement_of
from lmctui.service.run import execute, run
from lmctui.store import Registry

MAX_CPU_SLOTS = 64  # worker threads one process may run
ORPHAN_CHECK_SECONDS = 10.0  # how often a long-lived process looks for jobs whose process died
CLUSTER_REFRESH_SECONDS = 5.0  # how often Slurm's states are asked for while Slurm jobs are open


def cuda_devices() -> list[str]:
    """The CUDA devices of this machine, as job device names (imports torch)."""
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


class Jobs:
    """One process's view of the shared queue, and the workers it runs."""

    def __init__(self, registry: Registry, cpu_slots: int = 1, name: str = "cli",
                 on_change: Callable[[], None] | None = None):
        if not 1 <= cpu_slots <= MAX_CPU_SLOTS:
            raise UserError(f"cpu slots must be from 1 to {MAX_CPU_SLOTS}, got {cpu_slots}")
        self.registry, self.cpu_slots, self.name = registry, cpu_slots, name
        self.queue = JobQueue(registry)
        self.on_change = on_change or (lambda: None)
        self.workers: list[Worker] = []
        self.threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # -- the queue --------------------------------------------------------------------
    def submit(self, request, placement=None) -> dict:
        """Queue `request` (on `placement`: the local queue unless told) after refusing what can be
        refused without torch; the job queued (for a submission of several, the last: a sweep's final job)."""
        from lmctui.service.placements import Queue

        try:
            submitted = run(request, placement or Queue(), self.registry)
        finally:
            self.on_change()
        return submitted["job"] if "job" in submitted else submitted["jobs"][-1]

    def cancel(self, prefix: str) -> dict:
        """Cancel a job the way its placement does (a queued one at once, a running one between batches,
        a Slurm one by scancel)."""
        found = self.resolve(prefix)
        job = placement_of(found).cancel(self, found)
        self.on_change()
        return self.registry.get("jobs", job["id"])

    def requeue(self, prefix: str) -> dict:
        """Queue a failed, cancelled or interrupted job again (a Slurm job is submitted again)."""
        found = self.resolve(prefix)
        try:
            return placement_of(found).requeue(self, found)
        finally:
            self.on_change()

    # -- jobs that run elsewhere -----------------------------------------------------------
    def refresh_cluster(self) -> list[str]:
        """Ask every placement for the state of its open jobs and record it; return the ids that changed.
        Blocks (sacct takes up to a few seconds): call it off the UI thread."""
        changed = [job_id for kind in PLACEMENTS.values() for job_id in kind().state(self.registry)]
        if changed:
            self.on_change()
        return changed

    def start_cluster_refresh(self, seconds: float = CLUSTER_REFRESH_SECONDS) -> threading.Thread:
        """A daemon thread that calls `refresh_cluster` every `seconds` (until `stop_workers`);
        `on_change` hears each change."""
        def loop():
            while not self._stop.wait(seconds):
                try:
                    self.refresh_cluster()
                except Exception:
                    continue

        thread = threading.Thread(target=loop, daemon=True, name="lmctui-slurm-states")
        thread.start()
        return thread

    def log_tail(self, prefix: str, lines: int = 20) -> str:
        """The end of a Slurm job's stderr log (why it failed), or '' when it has none."""
        job = self.resolve(prefix)
        path = job.get("slurm_stderr")
        if not path:
            return ""
        from lmctui.bounded_files import METRICS_BYTES, read_regular
        from lmctui.service.slurm.submit import FOLDER

        folder = (self.registry.home / FOLDER).resolve()
        if not isinstance(path, str) or not Path(path).resolve().is_relative_to(folder):
            raise UserError(f"job {job['id']} names log {str(path)[:80]!r}, outside {folder}: the registry was "
                            "changed by hand; nothing was read")
        try:
            raw = read_regular(path, "log", METRICS_BYTES)
        except (OSError, UserError):
            return ""
        return "".join(raw.decode("utf-8", errors="replace").splitlines(keepends=True)[-lines:])

    def resolve(self, prefix: str) -> dict:
        return self.registry.resolve("jobs", prefix, "job")

    def list(self) -> list[dict]:
        return self.queue.jobs()

    def running_here(self) -> list[dict]:
        names = {w.name for w in self.workers}
        return [j for j in self.queue.jobs() if j["status"] == "running" and j.get("worker") in names]

    # -- the workers ------------------------------------------------------------------
    def start_workers(self, idle_exit: bool = False) -> list[threading.Thread]:
        """Start `cpu_slots` worker threads draining the queue, and a watcher that marks the jobs
        and runs of dead processes interrupted every ORPHAN_CHECK_SECONDS (all daemons)."""
        threading.Thread(target=self._watch_orphans, daemon=True, name="lmctui-orphans").start()
        self.start_cluster_refresh()
        policy = DevicePolicy(self.cpu_slots, cuda_devices)
        for i in range(self.cpu_slots):
            worker = Worker(self.queue, self._execute, policy, f"{self.name}-{i}", self.on_change)
            thread = threading.Thread(target=worker.run_until, args=(self._stop, idle_exit), daemon=True,
                                      name=f"lmctui-{worker.name}")
            self.workers.append(worker)
            self.threads.append(thread)
            thread.start()
        return self.threads

    def _watch_orphans(self) -> None:
        while not self._stop.wait(ORPHAN_CHECK_SECONDS):
            try:
                if self.registry.mark_orphans_interrupted():
                    self.on_change()
            except Exception:  # a registry unreadable for a moment: the workers report it
                continue

    def errors(self) -> list[Exception]:
        """Why workers stopped on their own (the queue failed under them)."""
        return [w.error for w in self.workers if w.error is not None]

    def _execute(self, job, should_stop, on_progress) -> dict:
        return execute(self.registry, job, should_stop, on_progress)

    def stop_workers(self) -> None:
        """Running jobs stop at their next batch (marked interrupted); the threads end."""
        self._stop.set()
        for worker in self.workers:
            worker.stopping.set()

    def serve(self, stopped: threading.Event) -> None:
        """Block while the workers run: until they end (idle exit) or `stopped` is set, then
        stop them and wait for their jobs to be marked. A worker's failure is raised here."""
        while any(t.is_alive() for t in self.threads) and not stopped.is_set():
            stopped.wait(0.2)
        self.stop_workers()
        for thread in self.threads:
            while thread.is_alive():
                thread.join(0.2)
        if self.errors():
            raise self.errors()[0]

