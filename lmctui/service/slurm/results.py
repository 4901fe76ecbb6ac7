"""What a submission's Slurm jobs say once they ended: which failed, and which job trained a run.

The result itself is read back by the use case that made it (`service.run.rebuilt`), so
`--json` output is the same wherever the work ran.
"""

from __future__ import annotations

from lmctui.errors import WorkFailed
from lmctui.records import view
from lmctui.store import Registry


def failures(docs: list[dict]) -> WorkFailed | None:
    """One error naming every job of the submission that did not finish, or None."""
    bad = [d for d in docs if d["status"] != "done"]
    if not bad:
        return None
    return WorkFailed("; ".join(f"job {d['id']} ({d.get('slurm_job_id')}) {d['status']}: {d.get('error')}"
                                for d in bad))


JOB_OF_RUN_FIELDS = ("id", "kind", "executor", "status", "slurm_job_id", "slurm_state", "slurm_host", "slurm_stdout",
                     "slurm_stderr")


def job_of_run(registry: Registry, run: dict) -> dict | None:
    """The Slurm job that trained `run` (by its result, or by the task's host and pid), or None."""
    for job in registry.all("jobs"):
        if job.get("executor") != "slurm" or job.get("kind") != "train":
            continue
        made = (job.get("result") or {}).get("runs") or []
        by_task = job.get("slurm_pid") is not None and (job.get("slurm_host"), job.get("slurm_pid")) == \
            (run.get("host"), run.get("pid"))
        if run["id"] in made or by_task:
            return view(job, JOB_OF_RUN_FIELDS)
    return None
