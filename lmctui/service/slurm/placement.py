"""The Slurm placement: submit a request as registry jobs to sbatch, and wait for, cancel or re-queue them."""

from __future__ import annotations

from lmctui.errors import UserError
from lmctui.service.checks import check_submittable
from lmctui.service.run import rebuilt
from lmctui.service.slurm.settings import ClusterSettings, load_settings, settings_for
from lmctui.store import Registry

POLL_SECONDS = 2.0  # how often a waiting command asks sacct


class Slurm:
    """The cluster: one sbatch per submission (an array for several tasks), states from sacct.

    `settings`: the tasks' resources (None: the home's `cluster.json`); `no_wait`: return the
    submitted jobs at once instead of waiting for their result; `submitit_cluster`: submitit's
    executor ("slurm", or "local" / "debug" where a cluster is not the point).
    """

    name = "slurm"

    def __init__(self, settings: ClusterSettings | None = None, no_wait: bool = False,
                 submitit_cluster: str = "slurm", poll_s: float = POLL_SECONDS):
        self.settings, self.no_wait, self.submitit_cluster, self.poll_s = settings, no_wait, submitit_cluster, poll_s

    @classmethod
    def from_options(cls, home, no_wait: bool = False, **options) -> "Slurm":
        """With the options given on a command line or in a form laid over the home's settings."""
        return cls(settings_for(home, **{k: v for k, v in options.items() if v is not None}), no_wait)

    def submit(self, registry: Registry, request, progress: dict | None = None, watch=None) -> dict:
        """sbatch the request's jobs; unless `no_wait`, wait for them and return what they made (as the
        work done here would). A failure names every job that did not finish, with what did as `partial`."""
        from lmctui.service.slurm import results, submit

        settings = (self.settings or load_settings(registry.home)).validate()
        check_submittable(registry, request)
        docs = submit.submit(registry, request, settings, self.submitit_cluster)
        if watch is not None:
            watch.submitted(docs)
        if self.no_wait:
            return {"jobs": docs}
        docs = self.wait(registry, [d["id"] for d in docs], watch)
        made, problem = rebuilt(registry, docs), results.failures(docs)
        if problem is not None:
            problem.partial = made or None
            raise problem
        return made

    def cancel(self, jobs, job: dict) -> dict:
        """scancel; Slurm's state (CANCELLED) settles the job with the next refresh."""
        from lmctui.service.slurm import submit

        return submit.cancel(jobs.registry, job)

    def requeue(self, jobs, job: dict) -> dict:
        """Submit a failed, cancelled or interrupted job again, once Slurm has let it go."""
        from lmctui.service.slurm import submit

        if job["status"] not in ("failed", "cancelled", "interrupted"):
            raise UserError(f"job {job['id']} is {job['status']}; only failed, cancelled or "
                            "interrupted jobs can be re-queued")
        if not job.get("slurm_settled"):
            raise UserError(f"job {job['id']} is still ending on Slurm (state {job.get('slurm_state')}); "
                            "re-queue it once `lmctui-cli jobs` shows it ended")
        return submit.resubmit(jobs.registry, job, self.submitit_cluster)

    def state(self, registry: Registry) -> list[str]:
        """Ask sacct for every open Slurm job and record it; the ids that changed (blocks up to seconds)."""
        from lmctui.service.slurm.state import refresh, unsettled

        return refresh(registry) if unsettled(registry) else []

    def wait(self, registry: Registry, job_ids: list[str], watch=None) -> list[dict]:
        """Block until these jobs ended (by Slurm's state); `watch.tick(docs)` hears each poll, and
        `watch.stopped(err)` a Ctrl-C while waiting (the jobs go on)."""
        from lmctui.service.slurm.state import wait

        try:
            return wait(registry, job_ids, watch.tick if watch is not None else None, self.poll_s)
        except KeyboardInterrupt as err:
            if watch is not None:
                watch.stopped(err)
            raise
