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

from lmctui.errors import UserError, WorkFailed
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
        "slurm_host": None, "slurm_pid": None, "slurm_settled": False, "slurm_requeues": 0,
    }


def submit(registry: Registry, request, settings: ClusterSettings, cluster: str = "slurm") -> list[dict]:
    """Register the jobs of `request` and sbatch them; return their documents (the final job last).

    `cluster` is submitit's: "slurm", or "local" / "debug" where a cluster is not the point.
    """
    if cluster == "slurm":
        require_slurm()
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
    """Submit a failed, cancelled or interrupted Slurm job again, in a fresh folder. Its stored
    settings and request meet the command line's checks again first: a job document is data."""
    from lmctui.service.requests import request_from_job

    settings = ClusterSettings.from_dict(job.get("cluster") or {}).validate()
    request_from_job(job).validate()
    if cluster == "slurm":
        require_slurm()
    waiting = [registry.get("jobs", i) for i in job.get("slurm_depends_on") or []]
    live = [d["slurm_job_id"] for d in waiting if d and not d.get("slurm_settled") and d.get("slurm_job_id")]
    registry.update("jobs", job["id"], {
        "status": "pending", "progress": 0.0, "message": "submitting", "error": None, "result": None,
        "started": None, "finished": None, "cancel_requested": False, "eta_s": None, "slurm_state": None,
        "slurm_reason": None, "slurm_settled": False, "slurm_host": None, "slurm_pid": None, "slurm_requeues": 0})
    sbatch(registry, [job["id"]], settings, cluster, dependency="afterany:" + ":".join(live) if live else None)
    return registry.get("jobs", job["id"])


SLURM_ANSWER_S = 15  # how long sinfo may take to answer before Slurm counts as unreachable


def require_slurm() -> None:
    """Refuse, before any job is recorded, a submission this machine cannot make: no sbatch here,
    or a controller that does not answer (a job left `pending / submitting` forever otherwise)."""
    import shutil
    import subprocess

    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        raise UserError("--executor slurm: Slurm's commands (sbatch, sinfo) are not on this machine's PATH; "
                        "submit from a login node of the cluster")
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=SLURM_ANSWER_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UserError(f"--executor slurm: Slurm does not answer here ({err})") from None
    if done.returncode != 0:
        raise UserError(f"--executor slurm: Slurm does not answer here (sinfo: {' '.join(done.stderr.split())[:200]})")


def sbatch(registry: Registry, job_ids: list[str], settings: ClusterSettings, cluster: str = "slurm",
           dependency: str | None = None) -> list[str]:
    """One sbatch for these registry jobs (an array when several); record the Slurm ids; return them."""
    from lmctui.service.slurm.task import run_task

    first = registry.get("jobs", job_ids[0])
    attempt = (first.get("slurm_attempt") or 0) + 1
    home = str(registry.home.resolve())
    try:  # any failure on the way (a folder that cannot be made, sbatch refusing) marks the jobs failed
        folder = fresh_folder(registry.home.resolve() / FOLDER, f"{job_ids[0]}.{attempt}")
        executor = make_executor(folder, settings, cluster, dependency)
        if len(job_ids) == 1:
            submitted = [executor.submit(run_task, home, job_ids[0])]
        else:
            submitted = executor.map_array(run_task, [home] * len(job_ids), job_ids)
    except Exception as err:  # sbatch refused (bad partition, account, limits): say why, keep the record
        why = " ".join(str(getattr(err, "strerror", None) or err).split())[-400:]
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
    """A submitit executor for one submission with these settings (checked again here: the last
    gate before they become lines of a batch script)."""
    import submitit

    settings.validate()
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    # requeue: a task warned of its time limit re-queues itself (slurm_task), whatever the cluster's default
    extra = {**dict(settings.slurm_options), "requeue": True}
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
        raise UserError(f"job {job['id']} is {job['status']}; nothing to cancel")
    if job.get("slurm_job_id"):
        from lmctui.service.slurm.state import valid_slurm_id

        if not valid_slurm_id(job["slurm_job_id"]):
            raise UserError(f"job {job['id']} names Slurm job {str(job['slurm_job_id'])[:40]!r}, which is not a "
                            "Slurm id; the registry was changed by hand: nothing was cancelled")
        done = subprocess.run(["scancel", job["slurm_job_id"]], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise WorkFailed(f"scancel {job['slurm_job_id']} failed: {' '.join(done.stderr.split())[:300]}")
    registry.update("jobs", job["id"], {"cancel_requested": True, "message": "cancelling (scancel)"})
    return registry.get("jobs", job["id"])
