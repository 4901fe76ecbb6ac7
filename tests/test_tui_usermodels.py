"""The app with your own models: the train form takes an import path and arch args; the Runs pane
shows the import path shortened."""

from textual.widgets import Input

from lmctui.tui.rows import run_row
from lmctui.tui.screens.forms import TrainForm
from lmctui.tui.screens.main import MainScreen
from tests.tui_helpers import run, run_doc, sample_registry, text_of, train_form


def test_run_rows_shorten_your_own_arch_and_data_only():
    builtin = run_doc("aaaaaa", 0)
    assert run_row(builtin) is builtin
    row = run_row({**builtin, "arch": "/home/me/project/models/small_cnn.py:make_cnn",
                   "dataset": "npz:/data/sets/digits.npz"})
    assert row["arch"] == "small_cnn.py:make_cnn" and row["dataset"] == "npz:digits.npz"
    assert len(run_row({**builtin, "arch": "a.very.long.package.name.models.cnn:make_cnn"})["arch"]) <= 24


def test_train_form_takes_an_import_path_and_arch_args(home, tmp_path):
    sample_registry(home)
    (tmp_path / "net.py").write_text("def make(input_shape, num_classes, groups=1):\n    pass\n")

    async def scenario():
        async with train_form(home, size=(80, 24)) as (app, pilot):
            app.screen.query_one("#user_arch", Input).value = f"{tmp_path / 'net.py'}:make"
            app.screen.query_one("#arch_args", Input).value = "groups=4 act=gelu"
            app.screen.query_one("#widths", Input).value = ""
            app.screen.query_one("#arch_args", Input).value = "groups"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, TrainForm) and "arch args" in text_of(app, "#form-error")
            app.screen.query_one("#arch_args", Input).value = "groups=4 act=gelu"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, MainScreen)
            await app.workers.wait_for_complete()
            queued = [j["params"] for j in app.jobs.list() if j["status"] == "queued"]
            assert queued[-1]["arch"] == f"{tmp_path / 'net.py'}:make"
            assert queued[-1]["arch_args"] == {"groups": 4, "act": "gelu"} and queued[-1]["width"] is None

    run(scenario())
