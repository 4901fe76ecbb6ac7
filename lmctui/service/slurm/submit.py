"""Submitting registry jobs to Slurm through submitit.

A Slurm job is a registry job first (the queue stays the one source of truth): its
document carries `executor: "slurm"`, the settings it was submitted with, and the Slurm
job id, array index, state and log paths. One submission is one sbatch, in a fresh
submitit folder `HOME/slurm/<job id>.<attempt>/` (Slurm restarts its ids at 1 when its
state is wiped, and a reused folder then hands back an earlier job's result).

What trains together is one array task: a vectorized seed stack is one task, seeds that
cannot train together (or --no-vectorize) are one task each, a sweep is one task per
swept value plus its barriers and averages as a final job that starts after the array.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lmctui.errors import WorkFailed
from lmctui.service.slurm.settings import ClusterSettings
from lmctui.service.requests import SweepRequest, TrainRequest
from lmctui.store import Registry
from lmctui.store.registry import now

FOLDER = "slurm"  # under the home: one submitit folder per submission


def task_requests(request) -> tuple[list, object | None]:
    """The requests of the array tasks, and the request of the final job that needs them all (or None)."""
    if isinstance(request, SweepRequest):
        return [request.request_for(value) for value in request.values], request
    if isinstance(request, TrainRequest) and len(request.seeds) > 1 and not request.trains_together:
        return [replace(request, seeds=(seed,)) for seed in request.seeds], None
    return [request], None


def job_document(request, settings: ClusterSettings, depends_on: list[str] = ()) -> dict:
    """A registry job for Slurm: what the queue keeps for every job, and where it went."""
    from lmctui.service.requests import request_device

    return {
        "kind": request.KIND, "params": request.to_params(), "device": request_device(request),
        "title": request.title(), "status": "pending", "progress": 0.0, "message": "submitting",
        "started": None, "finished": None, "error": None, "result": None, "cancel_requested": False,
        # host and pid stay None: the task runs elsewhere, and only Slurm's state settles the job
        "worker": None, "pid": None, "host": None, "eta_s": None,
        "executor": "slurm", "cluster": settings.to_dict(), "slurm_job_id": None, "slurm_array_job_id": None,
        "slurm_array_index": None, "slurm_state": None, "slurm_reason": None, "slurm_folder": None,
        "slurm_stdout": None, "slurm_stderr": None, "slurm_attempt": 0, "slurm_depends_on": list(depends_on),
        "slurm_host": None, "slurm_pid": None, "slurm_settled": False,
    }


def submit(registry: Registry, request, settings: ClusterSettings, cluster: str = "slurm") -> list[dict]:
    """Register the jobs of `request` and sbatch them; return their documents (the final job last).

    `cluster` is submitit's: "slurm", or "local" / "debug" where a cluster is not the point.
    """
    tasks, final = task_requests(request)
    docs = registry.insert_many("jobs", [job_document(r, settings) for r in tasks])
    ids = [d["id"] for d in docs]
    slurm_ids = sbatch(registry, ids, settings, cluster)
    if final is not None:
        [last] = registry.insert_many("jobs", [job_document(final, settings, ids)])
        ids.append(last["id"])
        sbatch(registry, [last["id"]], settings, cluster, dependency=f"afterany:{slurm_ids[0].split('_')[0]}")
    return [registry.get("jobs", i) for i in ids]


def resubmit(registry: Registry, job: dict, cluster: str = "slurm") -> dict:
    """Submit a failed, cancelled or interrupted Slurm job again, in a fresh folder."""
    settings = ClusterSettings.from_dict(job.get("cluster") or {})
    waiting = [registry.get("jobs", i) for i in job.get("slurm_depends_on") or []]
    live = [d["slurm_job_id"] for d in waiting if d and not d.get("slurm_settled") and d.get("slurm_job_id")]
    registry.update("jobs", job["id"], {
        "status": "pending", "progress": 0.0, "message": "submitting", "error": None, "result": None,
        "started": None, "finished": None, "cancel_requested": False, "eta_s": None, "slurm_state": None,
        "slurm_reason": None, "slurm_settled": False, "slurm_host": None, "slurm_pid": None})
    sbatch(registry, [job["id"]], settings, cluster, dependency="afterany:" + ":".join(live) if live else None)
    return registry.get("jobs", job["id"])


def sbatch(registry: Registry, job_ids: list[str], settings: ClusterSettings, cluster: str = "slurm",
           dependency: str | None = None) -> list[str]:
    """One sbatch for these registry jobs (an array when several); record the Slurm ids; return them."""
    from lmctui.service.slurm.task import run_task

    first = registry.get("jobs", job_ids[0])
    attempt = (first.get("slurm_attempt") or 0) + 1
    folder = fresh_folder(registry.home.resolve() / FOLDER, f"{job_ids[0]}.{attempt}")
    executor = make_executor(folder, settings, cluster, dependency)
    home = str(registry.home.resolve())
    try:
        if len(job_ids) == 1:
            submitted = [executor.submit(run_task, home, job_ids[0])]
        else:
            submitted = executor.map_array(run_task, [home] * len(job_ids), job_ids)
    except Exception as err:  # sbatch refused (bad partition, account, limits): say why, keep the record
        why = " ".join(str(err).split())[-400:]
        registry.update_many("jobs", {i: {"status": "failed", "finished": now(), "slurm_settled": True,
                                          "message": "", "error": f"sbatch failed: {why}"} for i in job_ids})
        raise WorkFailed(f"sbatch failed: {why}") from None
    changes = {}
    for index, (job_id, job) in enumerate(zip(job_ids, submitted)):
        array_id, _, task = str(job.job_id).partition("_")
        changes[job_id] = {
            "slurm_job_id": str(job.job_id), "slurm_array_job_id": array_id if task else None,
            "slurm_array_index": int(task) if task else None, "slurm_state": "PENDING", "slurm_folder": str(folder),
            "slurm_stdout": str(job.paths.stdout), "slurm_stderr": str(job.paths.stderr), "slurm_attempt": attempt,
            "message": "waiting for the dependency" if dependency else "pending"}
    registry.update_many("jobs", changes)
    return [str(job.job_id) for job in submitted]


def fresh_folder(parent: Path, name: str) -> Path:
    """`parent/name`, or `parent/name-2`, ... : never a folder an earlier submission used."""
    folder, n = parent / name, 1
    while folder.exists():
        n += 1
        folder = parent / f"{name}-{n}"
    folder.mkdir(parents=True)
    return folder


def make_executor(folder: Path, settings: ClusterSettings, cluster: str = "slurm", dependency: str | None = None):
    """A submitit executor for one submission with these settings."""
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    extra = dict(settings.slurm_options)
    if dependency:
        extra["dependency"] = dependency
    params = {"name": "lmctui", "timeout_min": settings.time, "cpus_per_task": settings.cpus_per_task,
              "slurm_array_parallelism": settings.array_parallelism,
              "slurm_signal_delay_s": settings.signal_delay_s, "slurm_additional_parameters": extra,
              # torch takes as many threads as the node has cores unless told
              "slurm_setup": ["export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}"]}
    optional = {"slurm_partition": settings.partition, "slurm_mem": settings.mem,
                "slurm_account": settings.account, "slurm_qos": settings.qos,
                "slurm_gpus_per_task": settings.gpus_per_task or None}
    params.update({k: v for k, v in optional.items() if v is not None})
    executor.update_parameters(**params)
    return executor


def cancel(registry: Registry, job: dict) -> dict:
    """scancel the job's Slurm job; its state (CANCELLED) then settles the registry job."""
    import subprocess

    if job.get("slurm_settled") or job["status"] in ("done", "failed", "cancelled", "interrupted"):
        from lmctui.errors import UserError

        raise UserError(f"job {job['id']} is {job['status']}; nothing to cancel")
    if job.get("slurm_job_id"):
        done = subprocess.run(["scancel", job["slurm_job_id"]], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise WorkFailed(f"scancel {job['slurm_job_id']} failed: {' '.join(done.stderr.split())[:300]}")
    registry.update("jobs", job["id"], {"cancel_requested": True, "message": "cancelling (scancel)"})
    return registry.get("jobs", job["id"])
