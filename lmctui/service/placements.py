"""Where a request runs: placements, and the one place a placement is chosen from user input.

A placement is an object with `submit`, `cancel`, `requeue`, `state` and `wait` (submitit's
executors have the same shape): `Foreground` runs the work in this process now, `Queue`
hands it to the local workers (the app's, or `lmctui-cli worker`), `service.slurm.Slurm`
sends it to the cluster. `PLACEMENTS` maps the name a user types (`--executor`, the forms'
"run on") and a job document's `executor` to the placement that owns such jobs; a new
placement is one class plus one entry here (a test adds its own with `monkeypatch.setitem`).
"""

from __future__ import annotations

from lmctui.configs import check_device_here
from lmctui.errors import FieldError, UserError
from lmctui.jobs.queue import JobQueue
from lmctui.service.checks import check_submittable
from lmctui.service.requests import request_device
from lmctui.service.run import run_here
from lmctui.service.slurm.placement import Slurm
from lmctui.store import Registry


class Foreground:
    """Here, now: the command waits for the work and gets its result."""

    name = "local"
    runs_here = True  # the work's progress callbacks are called in this process

    @classmethod
    def from_options(cls, home, no_wait: bool = False, **options) -> "Foreground":
        refuse_options(no_wait, options)
        return cls()

    def submit(self, registry: Registry, request, progress: dict, watch=None) -> dict:
        check_device_here(request_device(request))  # cuda on a machine without it: refused before torch
        return run_here(registry, request, progress)


class Queue:
    """The local job queue: a worker thread of this or another process on this machine runs the job."""

    name = "local"

    @classmethod
    def from_options(cls, home, no_wait: bool = False, **options) -> "Queue":
        refuse_options(False, options)  # a queue never waits: no_wait is what it does anyway
        return cls()

    def submit(self, registry: Registry, request, progress: dict | None = None, watch=None) -> dict:
        check_submittable(registry, request)
        return {"job": JobQueue(registry).submit(request.KIND, request.to_params(), request_device(request),
                                                 request.title())}

    def cancel(self, jobs, job: dict) -> dict:
        """A queued job at once, a running one between batches."""
        cancelled = jobs.queue.cancel(job["id"])
        for worker in jobs.workers:
            worker.local_cancel.add(cancelled["id"])
        return cancelled

    def requeue(self, jobs, job: dict) -> dict:
        return jobs.queue.requeue(job["id"])

    def state(self, registry: Registry) -> list[str]:
        return []  # the workers write their jobs' states into the registry themselves

    def wait(self, registry: Registry, job_ids: list[str], watch=None) -> list[dict]:
        raise UserError("local jobs are waited for by watching the registry (lmctui-cli jobs)")


# name -> the placement that owns jobs of that executor; `choose` picks among them for new work
PLACEMENTS: dict[str, type] = {"local": Queue, "slurm": Slurm}


def refuse_options(no_wait: bool, options: dict) -> None:
    """Options of another placement (the cluster's) given to one that takes none."""
    given = [n for n, v in options.items() if v is not None] + (["no_wait"] if no_wait else [])
    if given:
        raise FieldError(given[0], f"needs --executor {' or '.join(n for n in PLACEMENTS if n != 'local')}")


def choose(executor: str, home, queue: bool = False, no_wait: bool = False, background: bool = False,
           **options):
    """The placement the user asked for: `executor` by name, `queue` (`--queue`) for the local queue
    instead of now, with that placement's options (None: not given). `background`: the caller never
    waits (the app), so local work is queued and other placements return once submitted."""
    if executor not in PLACEMENTS:
        raise FieldError("executor", f"must be one of {', '.join(PLACEMENTS)}, got {executor!r}")
    kind = PLACEMENTS[executor]
    if kind is Queue:
        return (Queue if queue or background else Foreground).from_options(home, no_wait, **options)
    if background:
        return kind.from_options(home, True, **options)
    if queue:
        raise UserError(f"--queue and --executor {executor} exclude each other: {executor.capitalize()} keeps its own queue")
    return kind.from_options(home, no_wait, **options)


def placement_of(job: dict):
    """The placement that owns `job` (by the executor it was submitted to)."""
    return PLACEMENTS[job.get("executor") or "local"]()


def executors() -> tuple[str, ...]:
    return tuple(PLACEMENTS)
