"""Decision regions of a 2-D toy run, or of the network at alpha between two runs."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from lmctui.errors import UserError
from lmctui.tui.widgets.region_map import RegionMap

ALPHA_STEP = 0.05
METHODS = ("naive", "weight", "activation")


class RegionsScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("left,h", "alpha(-1)", "alpha -"),
        Binding("right,l", "alpha(1)", "alpha +"),
        Binding("m", "method", "Method"),
    ]

    def __init__(self, run_a: str, run_b: str | None = None):
        super().__init__()
        self.run_a, self.run_b = run_a, run_b
        self.alpha = 0.5 if run_b else 0.0
        self.method = "weight" if run_b else "naive"
        self.regions = None  # the runs, loaded once by the first map

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("computing ...", id="regions-caption")
        yield RegionMap(id="regions-map")
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self.recompute)  # after layout, so the map knows its size

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompute)

    def action_alpha(self, step: int) -> None:
        if self.run_b is None:
            self.notify("select two runs of the same setting to move along the line", severity="warning")
            return
        self.alpha = round(min(1.0, max(0.0, self.alpha + step * ALPHA_STEP)), 4)
        self.recompute()

    def action_method(self) -> None:
        if self.run_b is not None:
            self.method = METHODS[(METHODS.index(self.method) + 1) % len(METHODS)]
            self.recompute()

    def recompute(self) -> None:
        size = self.query_one("#regions-map", RegionMap).size
        self._compute(max(20, size.width - 1), max(8, size.height - 2))

    @work(thread=True, exclusive=True, group="regions")
    def _compute(self, columns: int, rows: int) -> None:
        from lmctui.service.regions import DecisionRegions  # torch arrives here, in this thread

        try:
            if self.regions is None:
                self.regions = DecisionRegions(self.app.registry, self.run_a, self.run_b)
            grid = self.regions.grid(self.alpha, self.method, columns, rows)
        except UserError as err:
            self.app.call_from_thread(self._show_error, str(err))
            return
        self.app.call_from_thread(self._show, grid)

    def _show(self, grid: dict) -> None:
        who = f"{self.run_a}" if self.run_b is None else \
            f"(1 - {grid['alpha']:.2f}) {self.run_a} + {grid['alpha']:.2f} {self.run_b}, {grid['method']}"
        self.query_one("#regions-caption", Static).update(
            f"decision regions of {who}   test acc {grid['test_acc']:.3f}   (left/right: alpha, m: method)")
        self.query_one("#regions-map", RegionMap).show(grid["classes"], "")

    def _show_error(self, message: str) -> None:
        self.query_one("#regions-caption", Static).update(f"[b red]{message}[/]")
