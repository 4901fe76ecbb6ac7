"""What finished cluster jobs made, in the shapes the local use cases return.

A local `train` returns run records, `align` an alignment record, `interp` curve records,
`average` an average record, `sweep` its rows and summary. A Slurm job keeps only ids in
its result; this reads the records back from the registry, so `--json` output is the same
wherever the work ran.
"""

from __future__ import annotations

from lmctui.errors import WorkFailed
from lmctui.records import (ALIGNMENT_FIELDS, AVERAGE_FIELDS, CURVE_FIELDS, CURVE_SERIES, SWEEP_ROW_FIELDS, run_view,
                            view)
from lmctui.store import Registry

BARRIER_KEYS = ("loss_barrier_test", "error_barrier_test", "loss_barrier_train", "error_barrier_train")


def results(registry: Registry, docs: list[dict]) -> dict:
    """The combined result of the (settled) jobs of one submission, like the local use case's."""
    done = [d for d in docs if d["status"] == "done"]
    kind = docs[-1]["kind"]
    if kind == "sweep":
        return sweep_result(docs[-1]["result"]) if docs[-1]["status"] == "done" else {}
    if kind == "train":
        return {"runs": [run_view(registry.get("runs", i)) for d in done for i in d["result"]["runs"]]}
    if not done:
        return {}
    job, result = done[0], done[0]["result"]
    if kind == "align":
        doc = registry.get("alignments", result["alignment"])
        return {"alignment": {**view(doc, ALIGNMENT_FIELDS), "reused": (doc.get("created") or "") < (job.get("started") or "")}}
    if kind == "interp":
        return {"curves": [{**view(c, CURVE_FIELDS), **view(c, CURVE_SERIES)}
                           for c in (registry.get("curves", i) for i in result["curves"])]}
    return {"average": view(registry.get("averages", result["average"]), AVERAGE_FIELDS)}


# The key order of a local sweep's result (the registry stores keys sorted).
ROW_ORDER = ("value", "width", *SWEEP_ROW_FIELDS[1:])
SUMMARY_ORDER = ("value", "method", "pairs", "average_test_acc", "endpoint_test_acc_mean",
                 *(f"{key}_{stat}" for key in BARRIER_KEYS for stat in ("mean", "std")))


def sweep_result(result: dict) -> dict:
    """A sweep job's stored result with its keys in the order `run_sweep` returns them."""
    def ordered(row: dict, order) -> dict:
        return {**{k: row[k] for k in order if k in row}, **{k: v for k, v in row.items() if k not in order}}

    return {"sweep": result["sweep"], "rows": [ordered(r, ROW_ORDER) for r in result["rows"]],
            "summary": [ordered(s, SUMMARY_ORDER) for s in result["summary"]]}


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
