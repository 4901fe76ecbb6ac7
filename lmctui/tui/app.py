"""`lmctui`: the Textual workbench. For now a live view of the registry's runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from lmctui.errors import UserError
from lmctui.records import run_view

RUN_COLUMNS = ("id", "dataset", "arch", "width", "depth", "seed", "optimizer", "lr", "epochs",
               "status", "test_acc", "test_loss", "tags")
REFRESH_SECONDS = 2.0


class LmcApp(App):
    TITLE = "lmctui"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, home: Path):
        super().__init__()
        self.home = home
        self.sub_title = str(home)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="status")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for column in RUN_COLUMNS:
            table.add_column(column, key=column)
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)

    def action_refresh(self) -> None:
        from lmctui.store import Registry

        status = self.query_one("#status", Static)
        try:
            docs = Registry(self.home).all("runs")
        except UserError as err:
            status.update(f"[b red]Cannot open the registry:[/] {err}")
            return
        table = self.query_one("#runs", DataTable)
        row = table.cursor_row
        table.clear()
        for doc in sorted(docs, key=lambda d: d.get("created") or ""):
            view = run_view(doc)
            table.add_row(*(_cell(view.get(c)) for c in RUN_COLUMNS), key=view["id"])
        if docs:
            table.move_cursor(row=min(row, len(docs) - 1))
        status.update(f"{len(docs)} runs in {self.home}")

    def action_cursor_down(self) -> None:
        self.query_one("#runs", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#runs", DataTable).action_cursor_up()


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def make_app(home: str | Path | None = None) -> LmcApp:
    from lmctui.store import resolve_home

    return LmcApp(resolve_home(home))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lmctui", description="Terminal workbench for linear mode connectivity.")
    parser.add_argument("--home", help="registry folder (else $LMCTUI_HOME, else ./lmc-runs)")
    parser.add_argument("--demo", action="store_true", help="train a few toy networks first if the registry is empty")
    args = parser.parse_args(argv)
    if args.demo:
        _make_demo(args.home)
    make_app(args.home).run()


def _make_demo(home: str | None) -> None:
    try:
        from lmctui.service.catalog import open_registry
        registry = open_registry(home)
        if registry.all("runs"):
            return
        print(f"lmctui: training a few toy networks into {registry.home} (first use only) ...", file=sys.stderr)
        from lmctui.service.training import ensure_demo

        made = ensure_demo(registry)
        print(f"lmctui: {made} demo runs ready", file=sys.stderr)
    except UserError as err:
        print(f"lmctui: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
