"""The app items of issue 22: sort marker, check boxes without colour, the help's j/k, the fixed
id column, the pairwise screen's two reasons for no basins, and the figure key."""

import pytest
from textual.widgets import Static

from lmctui.tui.screens.forms import PairForm
from lmctui.tui.screens.help import HelpScreen
from lmctui.tui.screens.interpolation import InterpolationScreen
from lmctui.tui.screens.pairwise import PairwiseScreen
from lmctui.tui.widgets.check_box import CheckBox
from lmctui.tui.widgets.record_table import RecordTable
from tui_helpers import run_doc, sample_registry, scenario, wait_for, write_registry


def header(table: RecordTable, key: str) -> str:
    return table.columns[key].label.plain


def test_the_sorted_column_says_so_and_the_id_column_stays(home):
    sample_registry(home)

    async def body(app, pilot):
        table = app.screen.query_one("#runs-table", RecordTable)
        assert table.fixed_columns == 2  # the selection mark and the id
        assert header(table, "id") == "id"
        await pilot.press("s")
        assert header(table, "id") == "id ▲"
        await pilot.press("S")
        assert header(table, "id") == "id ▼"
        await pilot.press("s")
        assert header(table, "id") == "id" and header(table, "status").endswith(" ▼")
        assert app.screen.query_one("#jobs-table", RecordTable).fixed_columns == 1

    scenario(home, body)


def test_check_boxes_show_their_state_without_colour(home, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    sample_registry(home)

    async def body(app, pilot):
        await pilot.press("space", "space", "i")
        await pilot.pause()
        assert isinstance(app.screen, PairForm)
        boxes = {box.id: box for box in app.screen.query(CheckBox)}
        assert "X" in boxes["reset_bn"].render().plain and "X" not in boxes["repair"].render().plain
        boxes["repair"].toggle()
        await pilot.pause()
        assert "X" in boxes["repair"].render().plain

    scenario(home, body)


def test_j_and_k_scroll_the_help(home):
    sample_registry(home)

    async def body(app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        box = app.screen.query_one("#help-box")
        await pilot.press("j", "j", "j")
        await pilot.pause()
        assert box.scroll_y == 3
        await pilot.press("k")
        await pilot.pause()
        assert box.scroll_y == 2

    scenario(home, body)


def test_pairwise_tells_not_comparable_from_not_yet_interpolated(home):
    runs = [run_doc("aaa222", 0, 16), run_doc("bbb333", 1, 16), run_doc("eee666", 2, 16), run_doc("ccc444", 0, 64)]
    write_registry(home, runs)

    async def body(app, pilot):
        await pilot.press("space", "space", "space", "space", "p")
        assert await wait_for(lambda: isinstance(app.screen, PairwiseScreen) and len(app.screen.run_ids) == 4
                              and app.screen.basins is not None, pilot)
        assert "not comparable" in app.screen.basins["error"]

    scenario(home, body)


def test_f_saves_the_curve_screens_figure_under_exports(home):
    pytest.importorskip("matplotlib")
    sample_registry(home)

    async def body(app, pilot):
        await pilot.press("3", "enter")
        assert await wait_for(lambda: isinstance(app.screen, InterpolationScreen), pilot)
        await pilot.press("f")
        assert await wait_for(lambda: list((home / "exports").glob("curves-*.pdf")), pilot, 30)
        [figure] = (home / "exports").glob("curves-*.pdf")
        assert figure.read_bytes().startswith(b"%PDF-") and figure.stat().st_size > 5_000

    scenario(home, body)
