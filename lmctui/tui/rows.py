"""What several screens share: how a job is drawn as a row, CSV and figure export, how often detail
screens re-read.

Screens import these from here, never from the app or from each other, so the app imports
its screens and nothing imports back.
"""

from __future__ import annotations

import time
from pathlib import Path

from lmctui.configs import user_data_kind
from lmctui.records import write_csv
from lmctui.usermodel import is_user_arch, short_arch

DETAIL_REFRESH_SECONDS = 1.0  # run and job screens re-ask their (cached) views this often
MESSAGE_CELL = 60  # a job's message in the table; the job screen shows all of it


def export_csv(app, name: str, rows: list[dict], fields) -> Path:
    """Write `rows` to HOME/exports/NAME-TIME.csv and say where (every screen's `e`)."""
    path = Path(app.home) / "exports" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    write_csv(path, rows, fields, Path(app.home))  # exports/ made if missing; never through a link into the home
    app.notify(f"exported {len(rows)} rows to {path}", timeout=8)
    return path


def export_figure(app, kind: str, ids: list[str], **options) -> None:
    """Draw the `kind` figure of `ids` into HOME/exports/ (PDF, as `lmctui-cli plot` draws it) in a
    thread worker, and say where (the curve, sweep, pairwise and run screens' `f`)."""
    from lmctui.errors import UserError
    from lmctui.service.figures import export_figure_path, plot, width_sweep_figure

    def draw() -> None:
        try:
            path = export_figure_path(app.registry, kind, "-".join(ids[:3]) or "all")
            made = width_sweep_figure(app.registry, path) if kind == "widths" else \
                plot(app.registry, kind, ids, path, **options)
        except (UserError, ValueError, RuntimeError) as err:  # FieldError is a UserError
            app.call_from_thread(app.notify, f"no figure: {err}", severity="warning", timeout=8)
            return
        app.call_from_thread(app.notify, f"saved the figure to {made['path']}", timeout=8)

    app.run_worker(draw, thread=True, group="figure", exit_on_error=False)


def job_row(job: dict) -> dict:
    """A job as the Jobs pane shows it: a text progress bar, elapsed time, ETA and why it failed."""
    from datetime import datetime

    fraction = float(job.get("progress") or 0)
    filled = int(round(fraction * 10))
    elapsed = None
    if job.get("started"):
        end = datetime.fromisoformat(job["finished"]) if job.get("finished") else datetime.now().astimezone()
        elapsed = duration((end - datetime.fromisoformat(job["started"])).total_seconds())
    eta = duration(job["eta_s"]) if job.get("eta_s") is not None and job["status"] == "running" else None
    message = job.get("error") or job.get("message") or ""
    short = message if len(message) <= MESSAGE_CELL else message[:MESSAGE_CELL - 1] + "…"
    return {"id": job["id"], "status": job["status"], "title": job.get("title"), "where": where(job),
            "bar": "█" * filled + "░" * (10 - filled) + f" {fraction:4.0%}", "elapsed": elapsed, "eta": eta,
            "message": short.replace("\n", " "), "full_message": message, "progress": fraction}


def where(job: dict) -> str | None:
    """Where a job runs: its device here, or its Slurm job id and Slurm's state of it."""
    if "slurm_job_id" not in job:  # a job of the local queue
        return job.get("device_used")
    return f"{job['slurm_job_id'] or job.get('executor')} {job.get('slurm_state') or ''}".strip()


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def run_row(run: dict) -> dict:
    """A run as the Runs pane shows it: your own model's import path and data's path shortened to
    their file names (the run screen shows them whole); every other run as it is, not copied."""
    arch, dataset = run.get("arch"), run.get("dataset")
    if not is_user_arch(arch) and not user_data_kind(dataset):
        return run
    kind = user_data_kind(dataset)
    short_data = f"{kind}:{Path(dataset.partition(':')[2]).name}" if kind else dataset
    return {**run, "arch": short_arch(arch) if is_user_arch(arch) else arch, "dataset": short_data}
