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
runs it made before, from their newest valid resume state (service/resume.py).

A task warned that its time limit is near (the warning signal comes `signal_delay` seconds
before it) stops between two batches, where training writes a resume state of the batch it
reached, and re-queues itself with `scontrol requeue` (up to `auto_requeues` times, counted
in the job's `slurm_requeues`): Slurm starts the same call again, which takes the runs up
from that state, so a job longer than its limit ends by itself with the weights of one that
never stopped. This is submitit's checkpointing, done where the state is consistent: between
batches, not inside the signal handler (see docs/cluster.md, "Resuming").
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from lmctui.errors import WorkFailed
from lmctui.store import Registry
from lmctui.store.registry import HOST, now

# submitit's warning before the time limit: it stops the work between batches, and the task re-queues itself.
WARNING_SIGNAL = signal.SIGUSR2
WARNED = "time limit near"


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
    previous = _on_signals(stopped, may_requeue=_requeues_left(job))
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
        if WARNED in stopped and requeue_self(registry, job_id):
            return {"job": job_id, "status": "requeued"}
        if stopped:  # Slurm ended the task: its state (CANCELLED, TIMEOUT) settles the job
            registry.update("jobs", job_id, {"message": f"stopped by Slurm ({stopped[0]})"})
        else:
            queue.finish(job_id, "failed", error=f"{type(err).__name__}: {err}")
        raise
    finally:
        _restore(previous)
    queue.finish(job_id, "done", result=result)
    return {"job": job_id, "status": "done"}


def requeue_self(registry: Registry, job_id: str) -> bool:
    """Put this task back in Slurm's queue (`scontrol requeue`), if its job may re-queue once more.
    Returns whether it was; the job says why in either case."""
    from lmctui.service.slurm.settings import ClusterSettings
    from lmctui.service.slurm.state import valid_slurm_id

    job = registry.get("jobs", job_id)
    done, allowed = job.get("slurm_requeues") or 0, ClusterSettings.from_dict(job.get("cluster") or {}).auto_requeues
    if done >= allowed or not valid_slurm_id(job.get("slurm_job_id")):
        registry.update("jobs", job_id, {"message": f"time limit reached after {done} automatic re-queues; "
                                                    "`jobs --requeue` goes on from the resume state"})
        return False
    registry.update("jobs", job_id, {"slurm_requeues": done + 1, "status": "pending", "message":
                                     f"re-queued itself before its time limit ({done + 1} of {allowed}); it goes on "
                                     "from the batch it reached"})
    try:
        requeued = subprocess.run(["scontrol", "requeue", job["slurm_job_id"]], capture_output=True, text=True,
                                  timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        requeued = subprocess.CompletedProcess([], 1, "", str(err))
    if requeued.returncode != 0:
        registry.update("jobs", job_id, {"status": "running", "message": "scontrol requeue failed: "
                                         + " ".join(requeued.stderr.split())[:300]})
        return False
    return True


def _check_dependencies(registry: Registry, job: dict) -> None:
    """A sweep's final job starts after its training tasks ended, however they ended: go on only if all are done."""
    for dep_id in job.get("slurm_depends_on") or []:
        dep = registry.get("jobs", dep_id)
        if dep is None or dep.get("status") != "done":
            status = dep.get("status") if dep else "gone"
            why = f": {dep['error']}" if dep and dep.get("error") else ""
            raise WorkFailed(f"training job {dep_id} is {status}{why}; re-queue it, then this job")


def _requeues_left(job: dict) -> bool:
    from lmctui.service.slurm.settings import ClusterSettings

    return (job.get("slurm_requeues") or 0) < ClusterSettings.from_dict(job.get("cluster") or {}).auto_requeues


def _on_signals(stopped: list, may_requeue: bool) -> dict:
    """SIGTERM (scancel, or the time limit reached) stops the work between batches; so does the warning
    before the time limit while the task may still re-queue itself. Without a re-queue left, the warning
    is heard and ignored: the work goes on to the limit, and Slurm's TIMEOUT settles the job. Returns the
    handlers it replaced."""
    def stop(signum, frame):
        stopped.append(signal.Signals(signum).name)

    def note(signum, frame):
        if may_requeue:
            stopped.append(WARNED)

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
