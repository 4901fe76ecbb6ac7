"""Issue 13's Slurm in the app at 80x24, without a cluster: job records that carry Slurm's
fields, a stderr log on disk, and cancel / submit replaced by fakes that record their thread."""

import threading

from textual.widgets import Input, Select

import lmctui.tui.screens.forms as forms
from lmctui.tui.screens.forms import PairForm, TrainForm
from lmctui.tui.screens.job_detail import JobDetailScreen
from lmctui.tui.screens.main import MainScreen
from lmctui.tui.widgets.record_table import RecordTable
from tui_helpers import FIXED, column_x, refused, sample_registry, scenario, text_of, wait_for

LOG_LINES = [f"epoch {i}/50" for i in range(1, 60)] + ["torch.OutOfMemoryError: CUDA out of memory"]


def slurm_job(job_id, status, state, created, **extra):
    return {"id": job_id, "kind": "train", "title": "train digits mlp w64 seeds 0", "status": status,
            "progress": 0.3 if status == "running" else 0.0, "message": "epoch 15/50", "params": {},
            "created": created, "started": FIXED if status != "pending" else None, "executor": "slurm",
            "slurm_job_id": "4312_3", "slurm_array_job_id": "4312", "slurm_array_index": 3, "slurm_state": state,
            "slurm_reason": None, "slurm_settled": False, "slurm_attempt": 1,
            "cluster": {"time": 90, "partition": "gpu"}, **extra}


def slurm_registry(home, tmp_path):
    """`tmp_path` gets the logs' folder: the home's slurm/ folder, where submitit writes them (and the only
    place the app reads a log from)."""
    tmp_path = home / "slurm" / "4312_3.0"
    tmp_path.mkdir(parents=True, exist_ok=True)
    stderr = tmp_path / "4312_3_log.err"
    stderr.write_text("\n".join(LOG_LINES) + "\n")
    return sample_registry(home, [
        slurm_job("jss111", "pending", "PENDING", "2026-01-02T00:00:00+00:00", slurm_reason="Resources",
                  message="pending (Resources)", slurm_stderr=str(stderr), slurm_stdout=str(tmp_path / "4312_3_log.out")),
        slurm_job("jss222", "failed", "OUT_OF_MEMORY", "2026-01-03T00:00:00+00:00", slurm_job_id="4313",
                  slurm_settled=True, slurm_stderr=str(stderr),
                  error=f"Slurm: OUT_OF_MEMORY (exit code 0:125); log {stderr}")])


def test_jobs_pane_shows_slurm_id_and_state_within_80_columns(home, tmp_path):
    slurm_registry(home, tmp_path)

    async def body(app, pilot):
        await pilot.press("2")
        jobs = app.screen.query_one("#jobs-table", RecordTable)
        rows = {r["id"]: r for r in jobs.visible_records()}
        assert rows["jss111"]["where"] == "4312_3 PENDING" and rows["jss111"]["status"] == "pending"
        assert rows["jss222"]["where"] == "4313 OUT_OF_MEMORY"
        assert rows["jbb222"]["where"] == "cpu"  # a local job's device, in the same column
        assert column_x(jobs, "where") + len("4313 OUT_OF_MEMORY") <= 80
        assert column_x(jobs, "message") + len("pending") <= 80
        assert rows["jss111"]["message"] == "pending (Resources)"

    scenario(home, body)


def test_job_detail_shows_slurm_reason_log_paths_and_stderr_tail(home, tmp_path):
    slurm_registry(home, tmp_path)

    async def body(app, pilot):
        await pilot.press("2")
        jobs = app.screen.query_one("#jobs-table", RecordTable)
        jobs.move_cursor(row=[r["id"] for r in jobs.visible_records()].index("jss111"))
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        assert await wait_for(lambda: "stderr" in text_of(app, "#job-detail"), pilot)
        shown = text_of(app, "#job-detail")
        assert "reason: Resources" in shown and "state: PENDING" in shown and "job_id: 4312_3" in shown
        logs = home / "slurm" / "4312_3.0"
        assert str(logs / "4312_3_log.err") in shown and str(logs / "4312_3_log.out") in shown
        tail = shown[shown.index("the end of its stderr"):]
        assert LOG_LINES[-1] in tail and LOG_LINES[-20] in tail and LOG_LINES[0] + "\n" not in tail
        # Slurm's state and reason come before the generic fields: on screen at 80x24
        lines = shown.splitlines()
        assert next(i for i, line in enumerate(lines) if "reason: Resources" in line) < 20
        await pilot.press("escape")
        jobs.move_cursor(row=[r["id"] for r in jobs.visible_records()].index("jss222"))
        await pilot.press("enter")
        assert await wait_for(lambda: "OUT_OF_MEMORY" in text_of(app, "#job-detail"), pilot)
        assert text_of(app, "#job-detail").splitlines()[2].startswith("failed: Slurm: OUT_OF_MEMORY")

    scenario(home, body)


def test_cancel_and_requeue_run_off_the_ui_thread(home, tmp_path):
    slurm_registry(home, tmp_path)
    calls = []

    def fake(what):
        def action(job_id):
            calls.append((what, job_id, threading.current_thread() is threading.main_thread()))
            return {"id": job_id, "status": "pending", "cancel_requested": what == "cancel"}
        return action

    async def body(app, pilot):
        app.jobs.cancel, app.jobs.requeue = fake("cancel"), fake("requeue")
        await pilot.press("2")
        jobs = app.screen.query_one("#jobs-table", RecordTable)
        jobs.move_cursor(row=[r["id"] for r in jobs.visible_records()].index("jss111"))
        await pilot.press("c")
        assert await wait_for(lambda: calls, pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        await pilot.press("r")
        assert await wait_for(lambda: len(calls) == 2, pilot)
        assert calls == [("cancel", "jss111", False), ("requeue", "jss111", False)]
        assert any("jss111: pending (stopping)" in n.message for n in app._notifications)

    scenario(home, body)


async def choose_slurm(form, pilot):
    """Pick "slurm" in the form's "run on" list with keys: focus it, open it, down, enter."""
    form.query_one("#executor", Select).focus()
    await pilot.press("enter", "down", "enter")
    await pilot.pause()
    assert form.query_one("#executor", Select).value == "slurm"


def test_forms_send_work_to_slurm_with_its_options(home, monkeypatch):
    sample_registry(home)
    monkeypatch.setattr(forms.shutil, "which", lambda name: f"/usr/bin/{name}")
    submitted = []

    def fake_submit(request, placement=None):
        submitted.append((request.KIND, placement.name, placement.settings,
                          threading.current_thread() is threading.main_thread()))
        return {"id": "jzz999", "title": request.title(), "executor": placement.name, "slurm_job_id": "77"}

    async def body(app, pilot):
        app.jobs.submit = fake_submit
        await pilot.press("space", "space", "i")
        form = app.screen
        assert isinstance(form, PairForm)
        assert not form.query_one("#slurm_time").parent.display  # the Slurm rows show only for Slurm
        await choose_slurm(form, pilot)
        assert form.query_one("#slurm_time").parent.display and not form.query("#no-slurm")
        assert await refused(pilot, "slurm_time", "soon", "slurm time limit")
        form.query_one("#slurm_time", Input).value = "1:30:00"
        form.query_one("#slurm_partition", Input).value = "gpu"
        await pilot.press("ctrl+s")
        assert await wait_for(lambda: submitted, pilot)
        kind, executor, cluster, on_ui_thread = submitted[0]
        assert (kind, executor, on_ui_thread) == ("interp", "slurm", False)
        assert cluster.time == 90 and cluster.partition == "gpu"
        assert any("on Slurm as 77" in n.message for n in app._notifications)

    scenario(home, body)


def test_forms_say_when_this_machine_has_no_slurm(home, monkeypatch):
    sample_registry(home)
    monkeypatch.setattr(forms.shutil, "which", lambda name: None)

    async def body(app, pilot):
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, TrainForm)
        await choose_slurm(form, pilot)
        note = form.query_one("#no-slurm")
        assert note.display and "sinfo" in str(note.render())
        assert note.region.bottom <= 24 and form.query_one("#executor").region.bottom <= 24
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, TrainForm) and "sinfo is not on PATH" in text_of(app, "#form-error")
        assert app.jobs.list() == [j for j in app.jobs.list() if j["id"] in ("jbb222", "jbb333")]
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

    scenario(home, body)
