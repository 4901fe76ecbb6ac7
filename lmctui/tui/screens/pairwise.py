"""The matrix of barriers over all pairs of the selected runs, naive and aligned."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


def barrier_style(value: float | None) -> str:
    """Green where averaging works (no barrier), red where a wall stands."""
    if value is None:
        return "dim"
    if value < 0.05:
        return "bold green"
    if value < 0.25:
        return "yellow"
    return "bold red"


class PairwiseScreen(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"),
                Binding("c", "compute", "Compute missing pairs")]

    def __init__(self, run_ids: list[str]):
        super().__init__()
        self.run_ids = run_ids
        self.matrix = None  # the last one shown

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="matrix-scroll"):
            yield Static("loading ...", id="matrix")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#matrix-scroll").focus()
        self.refresh_data()

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="pairwise")
    def _load(self) -> None:
        matrix = self.app.views.pairwise(self.run_ids)
        self.app.call_from_thread(self.show, matrix)

    def show(self, matrix: dict) -> None:
        self.matrix = matrix
        refused = matrix.get("incompatible", {})
        table = Table()
        table.add_column("")
        for run in self.run_ids:
            table.add_column(run, justify="right")
        for i, a in enumerate(self.run_ids):
            cells = []
            for j, b in enumerate(self.run_ids):
                if i == j:
                    cells.append(Text("·", style="dim"))
                    continue
                pair = matrix["cells"].get((a, b)) or matrix["cells"].get((b, a))
                if (a, b) in refused or (b, a) in refused:
                    cells.append(Text("×", style="dim red"))
                    continue
                value = pair["naive"] if i < j else pair["aligned"]
                cells.append(Text("-" if value is None else f"{value:.3f}", style=barrier_style(value)))
            table.add_row(a, *cells)
        missing = sum(1 for pair, c in matrix["cells"].items()
                      if (c["naive"] is None or c["aligned"] is None) and pair not in refused)
        footer = f"\n{missing} pair(s) without curves: press c to queue them" if missing else ""
        if refused:
            footer += "\n× cannot be compared:\n" + "\n".join(f"  {why}" for why in refused.values())
        intro = Text("Test loss barrier of every pair: naive above the diagonal, aligned below.\n"
                     "Green: averaging works here; red: a barrier stands.")
        self.query_one("#matrix", Static).update(Group(intro, table, Text(footer)))

    def action_compute(self) -> None:
        if self.matrix is None:
            self.notify("the matrix is still loading", severity="warning")
            return
        queued = self.app.queue_missing_pairs(self.matrix)
        self.notify(f"queued {queued} interpolation job(s)")

