"""A pair of runs: loss and accuracy against alpha, naive and aligned overlaid, with barriers."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from lmctui.tui.rows import export_figure
from lmctui.tui.screens.closing import BACK
from lmctui.tui.widgets.curve_plot import CurvePlot

PANELS = (("train_loss", "train loss"), ("test_loss", "test loss"), ("train_acc", "train accuracy"),
          ("test_acc", "test accuracy"))


class InterpolationScreen(Screen):
    BINDINGS = [BACK, Binding("f", "figure", "Figure")]

    def __init__(self, run_a: str, run_b: str):
        super().__init__()
        self.run_a, self.run_b = run_a, run_b

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="barrier-numbers")
        with Grid(id="interp-grid"):
            for key, _ in PANELS:
                yield CurvePlot(id=f"plot-{key}")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        self._load()

    def action_figure(self) -> None:
        """These curves as a PDF under HOME/exports/."""
        export_figure(self.app, "curves", [self.run_a, self.run_b])

    @work(thread=True, exclusive=True, group="interpolation")
    def _load(self) -> None:
        curves = self.app.views.pair_curves(self.run_a, self.run_b)
        self.app.call_from_thread(self.show, curves)

    def show(self, curves: dict[str, dict]) -> None:
        if not curves:
            self.query_one("#barrier-numbers", Static).update(
                f"no stored curve between {self.run_a} and {self.run_b}: select both runs and press i")
            return
        rows = [f"{self.run_a} -> {self.run_b}    loss train/test  error train/test  curve   made"]
        for method, c in curves.items():
            rows.append(f"{method:>12}  {_num(c['loss_barrier_train'])} / {_num(c['loss_barrier_test'])}"
                        f"  {_num(c['error_barrier_train'])} / {_num(c['error_barrier_test'])}"
                        f"  {c.get('id') or '-'}  {(c.get('created') or '')[:16].replace('T', ' ')}")
        refined = [f"{method} {_num(c['loss_barrier_test_refined']).strip()} at α {c['loss_barrier_test_alpha']:.3f}"
                   for method, c in curves.items() if c.get("loss_barrier_test_refined") is not None
                   and c.get("loss_barrier_test_alpha") is not None]
        if refined:  # the grid's maximum refined between grid points (a narrow peak)
            rows.append("refined test loss barrier: " + ", ".join(refined))
        self.query_one("#barrier-numbers", Static).update("\n".join(rows))
        for key, title in PANELS:
            self.query_one(f"#plot-{key}", CurvePlot).draw(
                title, "alpha", [(method, c["alpha"], c[key]) for method, c in curves.items()])


def _num(value) -> str:
    return "   -  " if value is None else f"{value:6.4f}"
