"""Decision regions of a 2-D toy run, or of the network at alpha between two runs."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from lmctui.errors import UserError
from lmctui.tui.screens.closing import BACK
from lmctui.tui.widgets.region_map import Y_LABEL, RegionMap

ALPHA_STEP = 0.05
METHODS = ("naive", "weight", "activation")


class RegionsScreen(Screen):
    BINDINGS = [
        BACK,
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
        self._compute(max(20, size.width - Y_LABEL - 1), max(8, size.height - 2))

    @work(thread=True, exclusive=True, group="regions")
    def _compute(self, columns: int, rows: int) -> None:
        from lmctui.service.regions import DecisionRegions  # torch arrives here, in this thread

        try:
            if self.regions is None:
                self.regions = DecisionRegions(self.app.registry, self.run_a, self.run_b)
            grid = self.regions.grid(self.alpha, self.method, columns, rows)
            grid.update(_extent_and_points(self.regions))
        except UserError as err:
            self.app.call_from_thread(self._show_error, str(err))
            return
        self.app.call_from_thread(self._show, grid)

    def _show(self, grid: dict) -> None:
        who = f"{self.run_a}" if self.run_b is None else \
            f"(1 - {grid['alpha']:.2f}) {self.run_a} + {grid['alpha']:.2f} {self.run_b}, {grid['method']}"
        keys = "esc: back" if self.run_b is None else "left/right: alpha, m: method, esc: back"
        self.query_one("#regions-caption", Static).update(
            f"decision regions of {who}   test acc {grid['test_acc']:.3f}\n"
            f"test points drawn as their true class (0, 1, ...)   {keys}")
        self.query_one("#regions-map", RegionMap).show(grid)

    def _show_error(self, message: str) -> None:
        self.query_one("#regions-caption", Static).update(f"[b red]{message}[/]")


def _extent_and_points(regions) -> dict:
    """The map's extent (as the service grids it) and the test points, as plain numbers.

    Called in the worker thread: the tensors stay there. (The service's `grid` could
    return these itself; until then they are read from its loaded data set.)
    """
    from lmctui.service.regions import MARGIN

    data = regions.loaded.data
    lo, hi = data.x_train.min(0).values.tolist(), data.x_train.max(0).values.tolist()
    pad = [(h - l) * MARGIN for l, h in zip(lo, hi)]
    extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    points = [(x, y, int(c)) for (x, y), c in zip(data.x_test.tolist(), data.y_test.tolist())]
    return {"extent": extent, "points": points}
