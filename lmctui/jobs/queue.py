"""Jobs are registry documents first, then work.

queued -> running -> done | failed | cancelled | interrupted. A worker claims a job
atomically under the registry's write lock, so the TUI's workers and any number of
`lmctui-cli worker` processes can share one queue. Progress goes to the job's own
progress file, not the jobs table (`Registry.write_progress`), at most five times a
second, so a fast job neither floods the screens reading it nor holds the lock.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from lmctui.choices import JOB_KINDS
from lmctui.errors import UserError
from lmctui.store import Registry
from lmctui.store.registry import HOST, now

FINAL = ("done", "failed", "cancelled", "interrupted")
PROGRESS_WRITE_SECONDS = 0.2


class JobQueue:
    def __init__(self, registry: Registry):
        self.registry = registry
        self._last_write: dict[str, float] = {}

    def submit(self, kind: str, params: dict, device: str = "auto", title: str = "") -> dict:
        if kind not in JOB_KINDS:
            raise UserError(f"unknown job kind {kind!r}")
        return self.registry.insert("jobs", {
            "kind": kind, "params": params, "device": device, "title": title or kind, "status": "queued",
            "progress": 0.0, "message": "", "started": None, "finished": None, "error": None, "result": None,
            "cancel_requested": False, "worker": None, "pid": None, "host": None, "eta_s": None,
        })

    def jobs(self) -> list[dict]:
        """Every job, oldest first, a running one with its live progress, message and eta_s."""
        return sorted(self.registry.all("jobs"), key=lambda d: d.get("created") or "")

    def claim(self, accept: Callable[[dict, list[dict]], str | None], worker: str) -> dict | None:
        """Take the oldest queued job that `accept(job, running_jobs)` gives a device to."""
        with self.registry.locked():
            jobs = self.jobs()
            running = [j for j in jobs if j["status"] == "running"]
            for job in (j for j in jobs if j["status"] == "queued"):
                device = accept(job, running)
                if device is None:
                    continue
                fields = {"status": "running", "started": now(), "device_used": device, "worker": worker,
                          "pid": os.getpid(), "host": HOST, "message": "starting"}
                self.registry.update("jobs", job["id"], fields)
                return {**job, **fields}
        return None

    def progress(self, job_id: str, fraction: float, message: str, started_at: float) -> None:
        """Record live progress, throttled; the ETA extrapolates the elapsed time. Writes the job's
        progress file only: the jobs table is not rewritten and no lock is taken."""
        clock = time.monotonic()
        if clock - self._last_write.get(job_id, -1e9) < PROGRESS_WRITE_SECONDS and fraction < 1:
            return
        self._last_write[job_id] = clock
        elapsed = time.monotonic() - started_at
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.01 else None
        self.registry.write_progress(job_id, round(fraction, 4), message, None if eta is None else round(eta, 1))

    def finish(self, job_id: str, status: str, result: dict | None = None, error: str | None = None) -> None:
        fields = {"status": status, "finished": now(), "error": error, "result": result, "eta_s": None}
        if status == "done":
            fields["progress"] = 1.0
        self.registry.update("jobs", job_id, fields)

    def cancel(self, prefix: str) -> dict:
        """A queued job is cancelled at once; a running one is asked to stop."""
        with self.registry.locked():
            job = self.registry.resolve("jobs", prefix, "job")
            if job["status"] == "queued":
                self.registry.update("jobs", job["id"], {"status": "cancelled", "finished": now()})
            elif job["status"] == "running":
                self.registry.update("jobs", job["id"], {"cancel_requested": True, "message": "cancelling"})
            else:
                raise UserError(f"job {job['id']} is {job['status']}; nothing to cancel")
            return self.registry.get("jobs", job["id"])

    def requeue(self, prefix: str) -> dict:
        with self.registry.locked():
            job = self.registry.resolve("jobs", prefix, "job")
            if job["status"] not in ("failed", "cancelled", "interrupted"):
                raise UserError(f"job {job['id']} is {job['status']}; only failed, cancelled or "
                                "interrupted jobs can be re-queued")
            self.registry.update("jobs", job["id"], {
                "status": "queued", "progress": 0.0, "message": "", "error": None, "finished": None,
                "started": None, "cancel_requested": False, "eta_s": None})
            return self.registry.get("jobs", job["id"])

    def cancel_requested(self, job_id: str) -> bool:
        job = self.registry.get("jobs", job_id)
        return bool(job and job.get("cancel_requested"))
