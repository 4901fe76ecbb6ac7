import asyncio

from textual.widgets import DataTable, Static

from lmctui.store import Registry
from lmctui.tui.app import make_app


def test_runs_table_shows_the_registry(home):
    registry = Registry(home)
    for seed in range(3):
        registry.insert("runs", {"status": "done", "dataset": "moons", "arch": "mlp", "width": 8, "seed": seed,
                                 "test_acc": 0.9})

    async def scenario():
        app = make_app(home)
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.query_one("#runs", DataTable)
            assert table.row_count == 3
            await pilot.press("j", "j")
            assert table.cursor_row == 2
            await pilot.press("k")
            assert table.cursor_row == 1
            registry.insert("runs", {"status": "running", "seed": 9})
            await pilot.press("r")
            assert table.row_count == 4
            await pilot.press("q")

    asyncio.run(scenario())


def test_corrupt_registry_shows_a_message_naming_the_file(home):
    home.mkdir()
    (home / "registry.json").write_text("garbage")

    async def scenario():
        app = make_app(home)
        async with app.run_test(size=(80, 24)):
            text = str(app.query_one("#status", Static).render())
            assert "registry.json" in text and "corrupt" in text

    asyncio.run(scenario())
    assert (home / "registry.json").read_text() == "garbage"
