"""What runs inside a Slurm task: the registry job, run exactly as a local worker runs it.

`run_task(home, job_id)` is what submitit pickles (a module-level function, so the task
imports it by name). It opens the same registry on the shared file system and calls the
service's `execute`, so runs, curves and sweeps land there exactly as local ones do. The
runs it trains record this task's host and pid; the job records them as `slurm_host` /
`slurm_pid`, never as its owner's `host` / `pid`: a job that lives on a cluster is settled
by Slurm's state (slurm_state.refresh), not by whether some process on the submitting
machine is still alive.

A task that runs a job again (`jobs --requeue`, or Slurm requeueing a preempted job, which
starts the same pickled call) goes through the same `execute`: a training job takes up the
runs it made before, from their newest valid resume state (service/resume.py). The task is
not submitit-checkpointable, on purpose: see docs/cluster.md, "Resuming".
"""

from __future__ import annotations

import os
import signal
import time

from lmctui.errors import WorkFailed
from lmctui.store import Registry
from lmctui.store.registry import HOST, now

# submitit's warning before the time limit. Its own handler would end a task that is not
# checkpointable at once, as FAILED; ignoring it lets Slurm end the task at its limit (SIGTERM:
# training stops between batches), so the state says TIMEOUT, the job is settled as interrupted,
# and a re-queue resumes from the last resume state.
WARNING_SIGNAL = signal.SIGUSR2


def run_task(home: str, job_id: str) -> dict:
    """Run registry job `job_id` of the registry at `home`; record its outcome there."""
    from lmctui.jobs.queue import JobQueue
    from lmctui.service.run import execute

    registry = Registry(home)
    job = registry.get("jobs", job_id)
    if job is None:
        raise WorkFailed(f"job {job_id} is not in the registry at {home}")
    queue = JobQueue(registry)
    stopped = []
    previous = _on_signals(stopped)
    # unsettled again: Slurm may start a job anew (a preempted job requeued) after a refresh settled it
    registry.update("jobs", job_id, {"status": "running", "started": now(), "message": "starting", "error": None,
                                     "slurm_state": "RUNNING", "slurm_settled": False, "slurm_host": HOST,
                                     "slurm_pid": os.getpid()})
    started = time.monotonic()
    try:
        _check_dependencies(registry, job)
        result = execute(registry, job, lambda: "interrupted" if stopped else None,
                         lambda fraction, text: queue.progress(job_id, fraction, text, started))
    except BaseException as err:
        if stopped:  # Slurm ended the task: its state (CANCELLED, TIMEOUT) settles the job
            registry.update("jobs", job_id, {"message": f"stopped by Slurm ({stopped[0]})"})
        else:
            queue.finish(job_id, "failed", error=f"{type(err).__name__}: {err}")
        raise
    finally:
        _restore(previous)
    queue.finish(job_id, "done", result=result)
    return {"job": job_id, "status": "done"}


def _check_dependencies(registry: Registry, job: dict) -> None:
    """A sweep's final job starts after its training tasks ended, however they ended: go on only if all are done."""
    for dep_id in job.get("slurm_depends_on") or []:
        dep = registry.get("jobs", dep_id)
        if dep is None or dep.get("status") != "done":
            status = dep.get("status") if dep else "gone"
            why = f": {dep['error']}" if dep and dep.get("error") else ""
            raise WorkFailed(f"training job {dep_id} is {status}{why}; re-queue it, then this job")


def _on_signals(stopped: list) -> dict:
    """SIGTERM (scancel, or the time limit reached) stops the work between batches; the warning
    signal is noted only. Returns the handlers it replaced."""
    def stop(signum, frame):
        stopped.append(signal.Signals(signum).name)

    def note(signum, frame):
        pass

    previous = {}
    for signum, handler in ((signal.SIGTERM, stop), (WARNING_SIGNAL, note)):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread (a test's executor): leave the signals alone
            pass
    return previous


def _restore(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
