"""One job: status, why it failed, its params, result and log; scrolls at 80x24."""

from __future__ import annotations

import json

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from lmctui.tui.screens.closing import BACK
from lmctui.tui.rows import DETAIL_REFRESH_SECONDS, job_row

FIELDS = ("title", "kind", "status", "progress", "eta", "elapsed", "device", "device_used", "worker", "executor",
          "created", "started", "finished", "message")
# A Slurm job's own: Slurm's id, state and why it waits or ended, and where its logs are.
SLURM_FIELDS = ("slurm_job_id", "slurm_state", "slurm_reason", "slurm_attempt", "slurm_host", "slurm_stdout",
                "slurm_stderr", "slurm_folder")


class JobDetailScreen(Screen):
    BINDINGS = [BACK,
                Binding("j", "scroll('down')", "Down", show=False), Binding("k", "scroll('up')", "Up", show=False),
                Binding("c", "job('cancel')", "Cancel job"), Binding("r", "job('requeue')", "Re-queue")]

    def __init__(self, job_id: str):
        super().__init__()
        self.job_id = job_id
        self.sub_title = f"job {job_id}"
        self._shown = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="job-scroll"):
            yield Static("loading ...", id="job-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#job-scroll").focus()
        self.refresh_data()
        self.set_interval(DETAIL_REFRESH_SECONDS, self.refresh_data)

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="job-detail")
    def _load(self) -> None:
        job = self.app.views.job(self.job_id)
        log_grows = job is not None and "slurm_job_id" in job and not job.get("slurm_settled")
        if job is self._shown and not log_grows:  # a Slurm task writes its log without touching the registry
            return
        log = ""
        if job is not None and job.get("slurm_stderr"):
            try:
                log = self.app.jobs.log_tail(self.job_id, 40)
            except Exception:  # the log went away: the rest still shows
                log = ""
        self.app.call_from_thread(self.show, job, log)

    def show(self, job: dict | None, log: str) -> None:
        self._shown = job
        self.query_one("#job-detail", Static).update(describe(job, log) if job else f"job {self.job_id} is gone")

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one("#job-scroll", VerticalScroll)
        scroll.scroll_down() if where == "down" else scroll.scroll_up()

    def action_job(self, what: str) -> None:
        self.app.job_action(what, self.job_id)


def describe(job: dict, log: str = "") -> Text:
    """The whole job as text: the failure first, then where it ran on Slurm and its log, then the
    fields, params and result."""
    row = job_row(job)
    text = Text()
    text.append(f"job {job['id']}  {job.get('title') or job.get('kind')}\n", style="bold")
    if job.get("error"):
        text.append(f"\n{job['status']}: ", style="bold red")
        text.append(f"{job['error']}\n", style="red")
    if "slurm_job_id" in job:
        text.append_text(describe_slurm(job, log))
    text.append("\n")
    values = {**job, "progress": row["bar"], "eta": row["eta"], "elapsed": row["elapsed"]}
    for key in FIELDS:
        if values.get(key) not in (None, ""):
            text.append(f"{key:>12}: ", style="dim")
            text.append(f"{values[key]}\n")
    for name in ("params", "result"):
        if job.get(name):
            text.append(f"\n{name}:\n", style="bold")
            text.append(json.dumps(job[name], indent=2, sort_keys=True, default=str) + "\n")
    return text


def describe_slurm(job: dict, log: str) -> Text:
    """A Slurm job's id, state, Slurm's reason (why it waits or ended), its log paths and the end
    of its stderr: what says why it failed."""
    text = Text("\nslurm:\n", style="bold")
    for key in SLURM_FIELDS:
        value = job.get(key)
        text.append(f"{key.removeprefix('slurm_'):>12}: ", style="dim")
        text.append(f"{'-' if value in (None, '') else value}\n",
                    style="bold yellow" if key == "slurm_reason" and value else "")
    if job.get("cluster"):
        text.append(f"{'settings':>12}: ", style="dim")
        text.append(json.dumps(job["cluster"], sort_keys=True) + "\n")
    if log:
        text.append("\nthe end of its stderr:\n", style="bold")
        text.append(log if log.endswith("\n") else log + "\n")
    elif job.get("slurm_stderr"):
        text.append("\nits stderr log is empty or not there yet\n", style="dim")
    return text
