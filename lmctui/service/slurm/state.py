"""The state of Slurm jobs, fresh from `sacct`, and what it settles in the registry.

submitit's cached `job.state` can be stale, so every refresh asks `sacct` (one call for all
the unsettled jobs of a registry). A task that Slurm ended (scancel, time limit, node
failure, a `kill -9`) cannot record that itself: the refresh does, for the job and for the
runs the task was training (they carry the task's host and pid), with Slurm's reason.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Callable

from lmctui.store import Registry
from lmctui.store.registry import now

ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "REQUEUE_HOLD",
          "REQUEUE_FED", "STAGE_OUT", "SIGNALING")
# Slurm's final state -> the registry status of a job (and of its runs) that did not record its own end
SETTLED_STATUS = {"COMPLETED": "failed", "FAILED": "failed", "OUT_OF_MEMORY": "failed", "BOOT_FAIL": "failed",
                  "NODE_FAIL": "interrupted", "CANCELLED": "cancelled", "TIMEOUT": "interrupted",
                  "PREEMPTED": "interrupted", "DEADLINE": "interrupted", "REVOKED": "cancelled"}
SACCT_TIMEOUT_S = 30
ORPHAN_ERROR = "the process running it ended"  # what Registry.mark_orphans_interrupted writes


# A Slurm job id as sbatch gives it (an array task: <array id>_<index>). A stored id goes on
# sacct's and scancel's command lines: anything else (`--user=...`) was written by hand.
SLURM_ID = re.compile(r"[0-9]{1,12}(_[0-9]{1,7})?")


def valid_slurm_id(value) -> bool:
    return isinstance(value, str) and SLURM_ID.fullmatch(value) is not None


def unsettled(registry: Registry) -> list[dict]:
    return [j for j in registry.all("jobs") if j.get("executor") == "slurm" and valid_slurm_id(j.get("slurm_job_id"))
            and not j.get("slurm_settled")]


def fetch_states(slurm_ids: list[str]) -> dict[str, dict]:
    """{slurm job id: sacct's fields (State, ExitCode, Reason, NodeList, Elapsed)} for these jobs."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    if not slurm_ids:
        return {}
    command = ["sacct", "--parsable2", "-o", "JobID,State,ExitCode,Reason,NodeList,Elapsed",
               "-j", ",".join(sorted({i.split("_")[0] for i in slurm_ids}))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=SACCT_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"sacct failed: {' '.join(done.stderr.split())[:300]}")
    return SlurmInfoWatcher().read_info(done.stdout)


def refresh(registry: Registry, states: Callable[[list[str]], dict] = fetch_states) -> list[str]:
    """Record the Slurm state of every unsettled Slurm job, and settle those that ended; return the
    ids of the jobs that changed. `states` is `fetch_states` unless a test gives its own."""
    open_jobs = unsettled(registry)
    if not open_jobs:
        return []
    info = states([j["slurm_job_id"] for j in open_jobs])  # outside the lock: sacct can be slow
    changed = []
    with registry.locked():
        for job in unsettled(registry):
            fields = job_fields(job, info.get(job["slurm_job_id"]))
            if fields:
                registry.update("jobs", job["id"], fields)
                changed.append(job["id"])
                if fields.get("slurm_settled"):
                    settle_runs(registry, {**job, **fields})
    return changed


def job_fields(job: dict, info: dict | None) -> dict:
    """What the registry should say of `job` given sacct's line for it ({} if nothing changes)."""
    if not info:
        return {}
    state = (info.get("State") or "UNKNOWN").split()[0].rstrip("+")
    if state == "PENDING" and job["status"] == "running":
        return {}  # sacct lags behind a task that has already started
    fields = {"slurm_state": state, "slurm_reason": _reason(info)}
    if state == "PENDING":
        fields["message"] = f"pending ({fields['slurm_reason']})" if fields["slurm_reason"] else "pending"
    elif state == "RUNNING" and job["status"] == "pending":
        fields["status"] = "running"
    elif state not in ACTIVE:
        fields["slurm_settled"] = True
        if job["status"] not in ("done", "failed"):  # the task did not record its own end
            fields.update({"status": SETTLED_STATUS.get(state, "failed"), "finished": now(), "eta_s": None,
                           "error": why_ended(job, state, info), "message": ""})
        elif job["status"] == "done" and state != "COMPLETED":  # done, then killed while exiting: keep done
            fields["message"] = f"Slurm: {state} after the job finished"
    return {k: v for k, v in fields.items() if job.get(k) != v}


def why_ended(job: dict, state: str, info: dict) -> str:
    limit = (job.get("cluster") or {}).get("time")
    text = {"TIMEOUT": f"Slurm: TIMEOUT (time limit {limit} min reached)" if limit else "Slurm: TIMEOUT",
            "CANCELLED": "Slurm: CANCELLED (scancel)",
            "COMPLETED": "Slurm: COMPLETED, but the task recorded no result"}.get(state)
    if text is None:
        text = f"Slurm: {state} (exit code {info.get('ExitCode') or '?'})"
    log = job.get("slurm_stderr")
    return f"{text}; log {log}" if log and state not in ("CANCELLED",) else text


def settle_runs(registry: Registry, job: dict) -> list[str]:
    """The runs the ended task was training: interrupted (or failed) with Slurm's reason, never running."""
    host, pid = job.get("slurm_host"), job.get("slurm_pid")
    if host is None or pid is None:
        return []
    status = "failed" if job.get("slurm_state") in ("FAILED", "OUT_OF_MEMORY", "BOOT_FAIL") else "interrupted"
    reason = job.get("error") or f"Slurm: {job.get('slurm_state')}"
    changes = {}
    for run in registry.all("runs"):
        if run.get("host") != host or run.get("pid") != pid:
            continue
        if run.get("status") == "running" or (run.get("status") in ("interrupted", "cancelled")
                                              and run.get("error") in (None, ORPHAN_ERROR)):
            changes[run["id"]] = {"status": status, "error": reason, "finished": run.get("finished") or now(),
                                  **_progress(registry, run["id"])}
    if changes:
        registry.update_many("runs", changes)
    return list(changes)


def _progress(registry: Registry, run_id: str) -> dict:
    """How far a killed run got, from its metrics file (the registry holds only summaries)."""
    from lmctui.service.catalog import show_run

    try:
        rows = show_run(registry, run_id)["metrics"]
    except (OSError, ValueError):
        return {}
    return {"epochs_done": rows[-1]["epoch"], "test_acc": rows[-1].get("test_acc")} if rows else {}


def _reason(info: dict) -> str | None:
    reason = (info.get("Reason") or "").strip()
    return None if reason in ("", "None") else reason


def wait(registry: Registry, job_ids: list[str], on_tick: Callable[[list[dict]], None] | None = None,
         poll_s: float = 2.0, states: Callable[[list[str]], dict] = fetch_states) -> list[dict]:
    """Block until these Slurm jobs are settled; return their documents. `on_tick` hears each poll."""
    while True:
        refresh(registry, states)
        docs = [registry.get("jobs", i) for i in job_ids]
        if on_tick is not None:
            on_tick(docs)
        if all(d.get("slurm_settled") for d in docs):
            return docs
        time.sleep(poll_s)
