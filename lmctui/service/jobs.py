"""The job system as both interfaces use it: submit, cancel, re-queue, list, run workers.

The CLI and the app never touch `lmctui.jobs` or `lmctui.store` themselves: they hold
a `Jobs`. Nothing here imports torch; the work does, inside the worker threads.

A job runs where it was submitted: `executor="local"` queues it for the workers,
`executor="slurm"` sends it to the cluster (`slurm_submit`); both are registry jobs,
listed, cancelled and re-queued through the same methods. Slurm's states reach the
registry through `refresh_cluster`, which a background thread calls while workers run.
"""

from __future__ import annotations

import threading
from typing import Callable

from lmctui.errors import FieldError, UserError, WorkFailed
from lmctui.jobs.queue import JobQueue
from lmctui.jobs.worker import DevicePolicy, Worker
from lmctui.parsing import parse_run_at_epoch
from lmctui.service.catalog import check_compatible, require_done
from lmctui.service.requests import (AlignRequest, InterpRequest, SweepRequest, TrainRequest,
                                     request_from_job)
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
    def submit(self, request, executor: str = "local", cluster=None) -> dict:
        """Queue `request` after refusing what can be refused without torch.

        With `executor="slurm"` the request goes to the cluster with `cluster` (a
        `ClusterSettings`; None: the home's defaults) and the returned job is the last one
        submitted (a sweep's final job); `submit_to_cluster` returns them all.
        """
        from lmctui.service.cluster import check_executor

        if check_executor(executor) == "slurm":
            return self.submit_to_cluster(request, cluster)[-1]
        check_submittable(self.registry, request)
        job = self.queue.submit(request.KIND, request.to_params(), request_device(request), request.title())
        self.on_change()
        return job

    def submit_to_cluster(self, request, cluster=None, submitit_cluster: str = "slurm") -> list[dict]:
        """Send `request` to Slurm as one job per array task (and a sweep's final job); return their documents."""
        from lmctui.service import slurm_submit
        from lmctui.service.cluster import load_settings

        settings = (cluster or load_settings(self.registry.home)).validate()
        check_submittable(self.registry, request)
        try:
            return slurm_submit.submit(self.registry, request, settings, submitit_cluster)
        finally:
            self.on_change()

    def cancel(self, prefix: str) -> dict:
        """Cancel a job: a queued one at once, a running one between batches, a Slurm one by scancel."""
        found = self.resolve(prefix)
        if found.get("executor") == "slurm":
            from lmctui.service import slurm_submit

            job = slurm_submit.cancel(self.registry, found)  # the state follows with the next refresh
            self.on_change()
            return self.registry.get("jobs", job["id"])
        job = self.queue.cancel(found["id"])
        for worker in self.workers:
            worker.local_cancel.add(job["id"])
        self.on_change()
        return job

    def requeue(self, prefix: str) -> dict:
        """Queue a failed, cancelled or interrupted job again; a Slurm job is submitted again."""
        found = self.resolve(prefix)
        if found.get("executor") == "slurm":
            from lmctui.service import slurm_submit

            if found["status"] not in ("failed", "cancelled", "interrupted"):
                raise UserError(f"job {found['id']} is {found['status']}; only failed, cancelled or "
                                "interrupted jobs can be re-queued")
            if not found.get("slurm_settled"):
                raise UserError(f"job {found['id']} is still ending on Slurm (state {found.get('slurm_state')}); "
                                "re-queue it once `lmctui-cli jobs` shows it ended")
            try:
                return slurm_submit.resubmit(self.registry, found)
            finally:
                self.on_change()
        job = self.queue.requeue(found["id"])
        self.on_change()
        return job

    # -- the cluster ------------------------------------------------------------------
    def refresh_cluster(self) -> list[str]:
        """Ask Slurm for the state of every open Slurm job and record it; return the ids that changed.
        Blocks on `sacct` (up to a few seconds): call it off the UI thread."""
        from lmctui.service.slurm_state import refresh

        changed = refresh(self.registry)
        if changed:
            self.on_change()
        return changed

    def start_cluster_refresh(self, seconds: float = CLUSTER_REFRESH_SECONDS) -> threading.Thread:
        """A daemon thread that calls `refresh_cluster` every `seconds` while Slurm jobs are open
        (until `stop_workers`); `on_change` hears each change."""
        from lmctui.service.slurm_state import unsettled

        def loop():
            while not self._stop.wait(seconds):
                try:
                    if unsettled(self.registry):
                        self.refresh_cluster()
                except Exception:
                    continue

        thread = threading.Thread(target=loop, daemon=True, name="lmctui-slurm-states")
        thread.start()
        return thread

    def wait_for_cluster(self, job_ids: list[str], on_tick=None, poll_s: float = 2.0) -> list[dict]:
        """Block until these Slurm jobs have ended (by Slurm's state); return their documents."""
        from lmctui.service.slurm_state import wait

        return wait(self.registry, job_ids, on_tick, poll_s)

    def log_tail(self, prefix: str, lines: int = 20) -> str:
        """The end of a Slurm job's stderr log (why it failed), or '' when it has none."""
        job = self.resolve(prefix)
        path = job.get("slurm_stderr")
        if not path:
            return ""
        try:
            with open(path, encoding="utf-8", errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""

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


def request_device(request) -> str:
    return request.base.device if isinstance(request, SweepRequest) else request.device


def check_submittable(registry: Registry, request) -> None:
    """Everything about `request` that can be checked without torch: fields, and the runs it names."""
    request.validate()
    if isinstance(request, TrainRequest) and request.init_from:
        check_spawn_source(registry, request)
    names = {AlignRequest: ("run_a", "run_b"), InterpRequest: ("run_a", "run_b")}.get(type(request))
    prefixes = [getattr(request, n) for n in names] if names else list(getattr(request, "runs", ()) or ())
    if prefixes:
        docs = [require_done(registry.resolve("runs", p)) for p in prefixes]
        if len({d["id"] for d in docs}) != len(docs):
            raise UserError(f"the same run is named twice: {', '.join(d['id'] for d in docs)}")
        check_compatible(docs)


def check_spawn_source(registry: Registry, request: TrainRequest) -> None:
    """The run (and epoch) of `init_from` exists, finished, kept that checkpoint and has this model."""
    prefix, epoch = parse_run_at_epoch(request.init_from)
    parent = require_done(registry.resolve("runs", prefix))
    model = parent["config"]["model"]
    ours = {"dataset": request.data.name, "arch": request.arch, "width": request.width, "norm": request.norm,
            "depth": request.depth if request.arch == "mlp" else model.get("depth")}
    theirs = {"dataset": parent["config"]["data"]["name"], **{k: model.get(k) for k in ("arch", "width", "norm",
                                                                                            "depth")}}
    if ours != theirs:
        raise FieldError("init_from", f"{request.init_from}: run {parent['id']} has a different model or data set")
    kept = parent.get("checkpoints") or []
    if epoch is not None and epoch not in kept:
        raise FieldError("init_from", f"{request.init_from}: run {parent['id']} kept no checkpoint at epoch "
                                      f"{epoch} (kept: {kept or 'none'}; train with save_epochs)")


def execute(registry: Registry, job: dict, should_stop, on_progress: Callable[[float, str], None]) -> dict:
    """Run one job on the device the worker gave it; return its result for the registry."""
    from dataclasses import replace

    request = request_from_job(job)
    device = job.get("device_used") or request_device(request)
    if isinstance(request, SweepRequest):
        from lmctui.service.sweeps import run_sweep

        request = replace(request, base=replace(request.base, device=device))
        return run_sweep(registry, request, should_stop, on_progress)
    request = replace(request, device=device)
    if isinstance(request, TrainRequest):
        return _train(registry, request, should_stop, on_progress, job["id"])
    from lmctui.service import science

    def ste_step(done: int, total: int, loss: float) -> None:
        on_progress(done / total, f"STE step {done}/{total}, midpoint loss {loss:.4f}")

    if isinstance(request, AlignRequest):
        return {"alignment": science.align(registry, request, ste_step)["id"]}
    if isinstance(request, InterpRequest):
        methods = request.methods

        def report(method, done, total):
            on_progress((methods.index(method) + done / total) / len(methods), f"{method}: {done}/{total} points")

        return {"curves": [c["id"] for c in science.interp(registry, request, report)]}
    result = science.average(registry, request, on_step=ste_step)
    return {"average": result["id"], "test_acc": result["test_acc"]}


def _train(registry: Registry, request: TrainRequest, should_stop, on_progress, job_id: str) -> dict:
    """Train the job's runs; run again (re-queued), it takes up the runs it made before (`resume`),
    and every progress message says how: resumed from which epoch, or from scratch and why."""
    from lmctui.core.training import EpochEnd
    from lmctui.service.resume import Resumed, resume_note
    from lmctui.service.training import train_runs

    total = request.train.epochs * len(request.seeds)
    done, taken_up = set(), {}

    def on_event(run_id, event):
        if isinstance(event, Resumed):
            taken_up[run_id] = event
            done.update((run_id, epoch) for epoch in range(1, event.epoch + 1))
            on_progress(len(done) / total, resume_note(taken_up))
        elif isinstance(event, EpochEnd):
            done.add((run_id, event.epoch))
            note = f" ({resume_note(taken_up)})" if taken_up else ""
            on_progress(len(done) / total, f"epoch {event.epoch}/{event.epochs}, test acc {event.test_acc:.3f}{note}")

    runs = train_runs(registry, request, on_event, should_stop, job=job_id)
    failed = [r for r in runs if r["status"] != "done"]
    if failed:
        raise WorkFailed("; ".join(f"run {r['id']}: {r.get('error')}" for r in failed))
    return {"runs": [r["id"] for r in runs]}
