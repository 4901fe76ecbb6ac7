"""The app through Textual's Pilot: every screen and key flow, on fixed registries."""

import asyncio
import csv
import time

import pytest
from textual.widgets import Input, Select, Static

from lmctui.configs import DataConfig, TrainConfig
from lmctui.service.requests import InterpRequest, TrainRequest
from lmctui.tui.app import make_app
from lmctui.tui.screens.dialogs import ConfirmScreen, RegistryErrorScreen
from lmctui.tui.screens.forms import TrainForm
from lmctui.tui.screens.help import HelpScreen
from lmctui.tui.screens.interpolation import InterpolationScreen
from lmctui.tui.screens.main import MainScreen
from lmctui.tui.screens.pairwise import PairwiseScreen
from lmctui.tui.screens.run_detail import RunDetailScreen
from lmctui.tui.widgets.record_table import RecordTable
from tui_helpers import run_doc, sample_registry, settled, train_form, write_registry


def run(coro):
    asyncio.run(coro)


def text_of(app, selector):
    return str(app.screen.query_one(selector, Static).render())


def test_runs_pane_moves_selects_filters_sorts_and_exports(home):
    sample_registry(home)

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            table = app.screen.query_one("#runs-table", RecordTable)
            assert table.row_count == 4
            await pilot.press("j", "j", "k")
            assert table.cursor_row == 1
            await pilot.press("space", "space")
            assert table.selected == ["bbb333", "ccc444"]
            assert "2 selected" in text_of(app, "#status")
            await pilot.press("slash", *"width=64", "enter")
            assert [r["id"] for r in table.visible_records()] == ["ccc444", "ddd555"]
            await pilot.press("e")
            await pilot.pause()
            exported = sorted((home / "exports").glob("runs-*.csv"))
            rows = list(csv.DictReader(exported[-1].open()))
            assert [r["id"] for r in rows] == ["ccc444", "ddd555"]
            await pilot.press("escape")
            assert table.row_count == 4
            await pilot.press("s")  # sort by the first column, then the next
            await pilot.press("s")
            assert table.sort_key == "status"

    run(scenario())


def test_tabs_jobs_cancel_and_requeue(home):
    registry = sample_registry(home)

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            await pilot.press("tab")
            jobs = app.screen.query_one("#jobs-table", RecordTable)
            assert app.screen.current_table() is jobs and jobs.row_count == 2
            failed = next(i for i, r in enumerate(jobs.visible_records()) if r["status"] == "failed")
            jobs.move_cursor(row=failed)
            await pilot.press("r")
            await app.workers.wait_for_complete()  # cancel and re-queue run off the UI thread
            assert registry.get("jobs", "jbb333")["status"] == "queued"
            await pilot.press("c")
            await app.workers.wait_for_complete()
            assert registry.get("jobs", "jbb333")["status"] == "cancelled"
            record = jobs.visible_records()[failed]
            assert record["elapsed"] is None or ":" in record["elapsed"]
            done = next(r for r in jobs.visible_records() if r["id"] == "jbb222")
            assert done["bar"].startswith("██████████") and done["elapsed"] == "0:42"
            await pilot.press("shift+tab")
            assert app.screen.query_one("#tabs").active == "runs"
            await pilot.press("shift+tab")
            assert app.screen.query_one("#tabs").active == "sweeps"

    run(scenario())


def test_barriers_pane_opens_the_interpolation_screen(home):
    sample_registry(home)

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            await pilot.press("3")
            table = app.screen.query_one("#barriers-table", RecordTable)
            assert table.row_count == 4
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, InterpolationScreen)
            numbers = text_of(app, "#barrier-numbers")
            assert "naive" in numbers and "weight" in numbers
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)

    run(scenario())


def test_pairwise_matrix_and_sweep_pane(home):
    sample_registry(home)

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            await pilot.press("space", "space", "p")
            await pilot.pause()
            assert isinstance(app.screen, PairwiseScreen)
            assert app.screen.run_ids == ["aaa222", "bbb333"]
            await pilot.press("escape", "4")
            sweep = app.screen.query_one("#sweeps-table", RecordTable)
            rows = {(r["method"], r["width"]): r for r in sweep.visible_records()}
            assert rows[("naive", 16)]["mean"] == pytest.approx(0.40)
            assert rows[("weight", 64)]["mean"] == pytest.approx(0.01)

    run(scenario())


def test_pairwise_view_shows_both_barriers(home):
    from lmctui.service.views import pairwise_matrix

    registry = sample_registry(home)
    cells = pairwise_matrix(registry, ["aaa222", "bbb333", "ccc444"])["cells"]
    assert cells[("aaa222", "bbb333")] == {"naive": 0.40, "aligned": 0.03}
    assert cells[("aaa222", "ccc444")] == {"naive": None, "aligned": None}


def test_help_and_command_palette(home):
    sample_registry(home)

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert "Filter" in text_of(app, "#help-text") and "Pairwise" in text_of(app, "#help-text")
            await pilot.press("escape", "ctrl+p")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "CommandPalette"
            await pilot.press(*"width sweep", "enter")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "SweepForm"

    run(scenario())


def test_train_form_picks_a_readable_data_set_and_width_for_a_transformer(home):
    sample_registry(home)

    async def scenario():
        async with train_form(home) as (app, pilot):
            form = app.screen
            fields = lambda: (form.query_one("#dataset", Select).value, form.query_one("#widths", Input).value)
            for arch, expected in (("vit", ("digits", "1")), ("gpt", ("modadd", "1")), ("mlp", ("digits", "16")),
                                   ("vgg", ("digits", "16")), ("vit", ("digits", "1")), ("resnet20", ("digits", "16"))):
                form.query_one("#arch", Select).value = arch
                await pilot.pause()
                assert fields() == expected, arch
                [request] = form.build()
                assert (request.arch, request.data.name, request.width) == (arch, expected[0], int(expected[1]))

    asyncio.run(scenario())


def test_train_form_refuses_bad_values_with_a_message(home):
    sample_registry(home)

    async def scenario():
        async with train_form(home) as (app, pilot):
            app.screen.query_one("#widths", Input).value = "0"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, TrainForm)
            assert "widths" in text_of(app, "#form-error")
            app.screen.query_one("#widths", Input).value = "8,32"
            app.screen.query_one("#lr", Input).value = "fast"
            await pilot.press("ctrl+s")
            assert "learning rate" in text_of(app, "#form-error")
            app.screen.query_one("#lr", Input).value = ""
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, MainScreen)
            await app.workers.wait_for_complete()  # the form's requests are submitted off the UI thread
            jobs = app.jobs.list()
            assert [j["params"]["width"] for j in jobs if j["status"] == "queued"] == [8, 32]

    run(scenario())


def wait_for(predicate, pilot, seconds=120):
    async def waiter():
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return True
            await pilot.pause(0.2)
        return False
    return waiter()


@pytest.mark.slow
def test_a_real_training_job_from_the_form_runs_to_done(home):
    write_registry(home)

    async def scenario():
        app = make_app(home)
        async with app.run_test(size=(100, 40)) as pilot:
            await settled(pilot)
            await pilot.press("n")
            await pilot.pause()
            form = app.screen
            form.query_one("#widths", Input).value = "8"
            form.query_one("#epochs", Input).value = "3"
            form.query_one("#seeds", Input).value = "0-1"
            await pilot.press("ctrl+s")
            assert await wait_for(lambda: app.jobs.list()[0]["status"] in ("done", "failed"), pilot)
            assert app.jobs.list()[0]["status"] == "done", app.jobs.list()[0]
            await pilot.pause(1.2)
            table = app.screen.query_one("#runs-table", RecordTable)
            assert [r["status"] for r in table.visible_records()] == ["done", "done"]
            # the run screen shows its live curves
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, RunDetailScreen)
            assert "test_acc" in text_of(app, "#run-config")
            await pilot.press("escape")
            # decision regions of the first run, then along the line to the second
            await pilot.press("space", "space", "d")
            assert await wait_for(lambda: "test acc" in text_of(app, "#regions-caption"), pilot, 60)
            assert "0.50" in text_of(app, "#regions-caption")
            await pilot.press("right")
            assert await wait_for(lambda: "0.55" in text_of(app, "#regions-caption"), pilot, 60)
            await pilot.press("escape")
            # a job that fails is marked failed and the app goes on
            # a job naming runs that do not exist is refused before it is queued
            count = len(app.jobs.list())
            assert app.submit(InterpRequest("nope00", "nope01")) is None
            assert len(app.jobs.list()) == count and isinstance(app.screen, MainScreen)

    run(scenario())


@pytest.mark.slow
def test_quitting_with_a_running_job_asks_first(home):
    registry = write_registry(home)

    async def scenario():
        app = make_app(home)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            app.submit(TrainRequest(DataConfig("digits"), width=32, train=TrainConfig(epochs=5000)))
            assert await wait_for(lambda: app.running_here(), pilot, 60)
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            assert app.running_here()
            await pilot.press("q", "y")
            await pilot.pause(0.5)

    run(scenario())
    job = registry.all("jobs")[0]
    assert job["status"] == "interrupted"
    assert registry.all("runs")[0]["status"] == "interrupted"


def test_corrupt_registry_gets_a_clear_screen(home):
    home.mkdir()
    (home / "registry.json").write_text("{broken")

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            assert isinstance(app.screen, RegistryErrorScreen)
            message = text_of(app, "#registry-error")
            assert "registry.json" in message and "corrupt" in message
            await pilot.press("q")

    run(scenario())
    assert (home / "registry.json").read_text() == "{broken"


def test_resizing_never_crashes(home):
    sample_registry(home)

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            for size in ((30, 10), (200, 60), (80, 24)):
                await pilot.resize_terminal(*size)
                await pilot.pause()
            await pilot.press("3", "enter")
            await pilot.resize_terminal(40, 12)
            await pilot.pause()
            assert isinstance(app.screen, InterpolationScreen)

    run(scenario())


def test_a_worker_in_another_process_shows_up(home):
    """The app reads what `lmctui-cli worker` writes: progress comes from the registry."""
    registry = sample_registry(home)

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            registry.insert("runs", run_doc("zzz999", 7, status="running"))
            await pilot.pause(1.5)
            table = app.screen.query_one("#runs-table", RecordTable)
            assert any(r["status"] == "running" for r in table.visible_records())

    run(scenario())


def test_a_table_longer_than_its_first_screenful_fills_in_after_the_first_frame(home, monkeypatch):
    from lmctui.tui.widgets import record_table

    monkeypatch.setattr(record_table, "FIRST_ROWS", 1)  # 4 runs: 1 before the first frame, then 2 a frame
    monkeypatch.setattr(record_table, "FILL_CHUNK", 2)
    sample_registry(home)

    def shown(table):
        return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]

    async def scenario():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            await pilot.pause()
            table = app.screen.query_one("#runs-table", RecordTable)
            everything = [r["id"] for r in table.visible_records()]
            assert len(everything) == 4 and shown(table) == everything
            assert table.cursor_record()["id"] == everything[0]
            table.sort_key, table.sort_reverse = "id", True
            table._redraw()
            table._redraw()  # a second redraw before the first one's rest is in: no row twice
            await pilot.pause()
            await pilot.pause()
            assert shown(table) == sorted(everything, reverse=True)
            # the cursor stayed on its run, now among the rows added after the first frame
            assert table.cursor_record()["id"] == everything[0] and table.cursor_row == 3

    run(scenario())
