"""One way to run any request: a table from request type to use case, and `run(request, placement)`.

Every interface goes through here: a CLI command, the app's forms, a local worker
(`execute`) and a Slurm task (`execute` again, on a compute node). Where the work runs is
the placement's business (`service/placements.py`); what the work is, and the shape of its
result, is the use case's:

- `run` does the work in this process and returns the result a command prints
  (`{"runs": [...]}`, `{"alignment": {...}}`, `{"curves": [...]}`, `{"average": {...}}`,
  or a sweep's `{"sweep", "rows", "summary"}`);
- `job_progress` turns a job's `on_progress(fraction, text)` into the callbacks `run` takes;
- `stored` is what a job document keeps of the result (ids: records live in their tables);
- `rebuilt` reads that back into the result `run` returned, wherever the job ran.

Nothing here imports torch: each use case imports its service module inside the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lmctui.errors import WorkFailed
from lmctui.records import ALIGNMENT_FIELDS, AVERAGE_FIELDS, CURVE_FIELDS, CURVE_SERIES, SWEEP_ROW_FIELDS, run_view, view
from lmctui.service.checks import check_submittable
from lmctui.service.requests import (AlignRequest, AverageRequest, InterpRequest, SweepRequest, TrainRequest,
                                     request_device, request_from_job, with_device)
from lmctui.service.stopping import current
from lmctui.store import Registry

Progress = Callable[[float, str], None]  # a job's progress: (fraction done, what is happening)


@dataclass(frozen=True)
class UseCase:
    """What one kind of request does, and how its result is kept by a job and read back."""

    run: Callable[..., dict]  # (registry, request, should_stop=None, job=None, **callbacks) -> result
    job_progress: Callable[[object, Progress], dict]  # (request, on_progress) -> the callbacks `run` takes
    stored: Callable[[dict], dict]  # result -> what the job document keeps
    rebuilt: Callable[[Registry, dict], dict]  # (registry, finished job) -> the result `run` returned
    merges: bool = False  # a submission's jobs each made part of the result (a train split into array tasks)


def run(request, placement, registry: Registry, progress: dict | None = None, watch=None) -> dict:
    """Run `request` where `placement` says; its result (or, for a queue, the job it queued).

    `progress`: the use case's callbacks (`on_event`, `on_step`, `on_progress`) for work done
    in this process; `watch`: what a placement that waits on other machines reports to.
    """
    return placement.submit(registry, request, progress or {}, watch)


def use_case(request) -> UseCase:
    return USE_CASES[type(request)]


def run_here(registry: Registry, request, progress: dict | None = None, should_stop=None, job: str | None = None
             ) -> dict:
    """The work of `request` in this process, after the checks that need no torch. Without a
    `should_stop` of its own, it stops when this thread's stop check says (service/stopping.py)."""
    check_submittable(registry, request)
    return use_case(request).run(registry, request, should_stop=should_stop or current(), job=job,
                                 **(progress or {}))


def execute(registry: Registry, job: dict, should_stop, on_progress: Progress) -> dict:
    """Run one job (claimed by a local worker or started by a Slurm task) on the device it was given;
    return what its document keeps."""
    request = request_from_job(job)
    request = with_device(request, job.get("device_used") or request_device(request))
    case = use_case(request)
    result = case.run(registry, request, should_stop=should_stop, job=job["id"],
                      **case.job_progress(request, on_progress))
    return case.stored(result)


def rebuilt(registry: Registry, docs: list[dict]) -> dict:
    """The result of a submission's finished jobs (the last job names the kind), as `run` gives it."""
    case = USE_CASES_BY_KIND[docs[-1]["kind"]]
    parts = [case.rebuilt(registry, d) for d in docs if d["status"] == "done" and d["kind"] == docs[-1]["kind"]]
    if not parts:
        return {}
    if case.merges:
        return {key: [item for part in parts for item in part[key]] for key in parts[0]}
    return parts[-1]


# -- train ------------------------------------------------------------------------------

def _train(registry: Registry, request: TrainRequest, should_stop=None, job: str | None = None, on_event=None) -> dict:
    from lmctui.service.training import train_runs

    runs = train_runs(registry, request, on_event, should_stop, job=job)
    failed = [r for r in runs if r["status"] != "done"]
    if failed:
        raise WorkFailed("; ".join(f"run {r['id']}: {r.get('error')}" for r in failed), partial={"runs": runs})
    return {"runs": runs}


def _train_progress(request: TrainRequest, on_progress: Progress) -> dict:
    """Epochs done over all seeds; a job run again says which runs it took up and from where."""
    from lmctui.core.training import EpochEnd
    from lmctui.service.resume import Resumed, resume_note

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

    return {"on_event": on_event}


# -- align, interp, average ---------------------------------------------------------------

def _align(registry: Registry, request: AlignRequest, should_stop=None, job=None, on_step=None) -> dict:
    from lmctui.service import science
    from lmctui.service.stopping import stopping

    with stopping(should_stop):
        return {"alignment": science.align(registry, request, on_step)}


def _interp(registry: Registry, request: InterpRequest, should_stop=None, job=None, on_progress=None,
            on_step=None) -> dict:
    from lmctui.service import science
    from lmctui.service.stopping import stopping

    with stopping(should_stop):
        return {"curves": science.interp(registry, request, on_progress, on_step)}


def _average(registry: Registry, request: AverageRequest, should_stop=None, job=None, on_step=None) -> dict:
    from lmctui.service import science
    from lmctui.service.stopping import stopping

    with stopping(should_stop):
        return {"average": science.average(registry, request, on_step=on_step)}


def _ste_progress(request, on_progress: Progress) -> dict:
    def on_step(done: int, total: int, loss: float) -> None:
        on_progress(done / total, f"STE step {done}/{total}, midpoint loss {loss:.4f}")

    return {"on_step": on_step}


def _interp_progress(request: InterpRequest, on_progress: Progress) -> dict:
    methods = request.methods

    def report(method, done, total):
        on_progress((methods.index(method) + done / total) / len(methods), f"{method}: {done}/{total} points")

    return {"on_progress": report, **_ste_progress(request, on_progress)}


def _alignment_rebuilt(registry: Registry, job: dict) -> dict:
    doc = registry.get("alignments", job["result"]["alignment"])
    # made before the job started: an alignment found in the registry, not computed
    return {"alignment": {**view(doc, ALIGNMENT_FIELDS), "reused": (doc.get("created") or "") < (job.get("started")
                                                                                               or "")}}


def _curves_rebuilt(registry: Registry, job: dict) -> dict:
    return {"curves": [{**view(c, CURVE_FIELDS), **view(c, CURVE_SERIES)}
                       for c in (registry.get("curves", i) for i in job["result"]["curves"])]}


# -- sweep ------------------------------------------------------------------------------

def _sweep(registry: Registry, request: SweepRequest, should_stop=None, job=None, on_progress=None) -> dict:
    from lmctui.service.sweeps import run_sweep

    return run_sweep(registry, request, should_stop, on_progress, job)


BARRIER_KEYS = ("loss_barrier_test", "error_barrier_test", "loss_barrier_train", "error_barrier_train")
# The key order of a sweep's result (the registry stores a job's result with its keys sorted).
ROW_ORDER = ("value", "width", *SWEEP_ROW_FIELDS[1:])
SUMMARY_ORDER = ("value", "method", "pairs", "average_test_acc", "endpoint_test_acc_mean",
                 *(f"{key}_{stat}" for key in BARRIER_KEYS for stat in ("mean", "std")))


def _sweep_rebuilt(registry: Registry, job: dict) -> dict:
    """A sweep job's stored result with its keys in the order `run_sweep` returns them."""
    def ordered(row: dict, order) -> dict:
        return {**{k: row[k] for k in order if k in row}, **{k: v for k, v in row.items() if k not in order}}

    result = job["result"]
    return {"sweep": result["sweep"], "rows": [ordered(r, ROW_ORDER) for r in result["rows"]],
            "summary": [ordered(s, SUMMARY_ORDER) for s in result["summary"]]}


def _as_is(request, on_progress: Progress) -> dict:
    return {"on_progress": on_progress}


USE_CASES: dict[type, UseCase] = {
    TrainRequest: UseCase(_train, _train_progress, lambda r: {"runs": [run["id"] for run in r["runs"]]},
                          lambda reg, job: {"runs": [run_view(reg.get("runs", i)) for i in job["result"]["runs"]]},
                          merges=True),
    AlignRequest: UseCase(_align, _ste_progress, lambda r: {"alignment": r["alignment"]["id"]}, _alignment_rebuilt),
    InterpRequest: UseCase(_interp, _interp_progress, lambda r: {"curves": [c["id"] for c in r["curves"]]},
                           _curves_rebuilt),
    AverageRequest: UseCase(_average, _ste_progress,
                            lambda r: {"average": r["average"]["id"], "test_acc": r["average"]["test_acc"]},
                            lambda reg, job: {"average": view(reg.get("averages", job["result"]["average"]),
                                                              AVERAGE_FIELDS)}),
    SweepRequest: UseCase(_sweep, _as_is, lambda r: r, _sweep_rebuilt),
}
USE_CASES_BY_KIND = {kind.KIND: case for kind, case in USE_CASES.items()}

