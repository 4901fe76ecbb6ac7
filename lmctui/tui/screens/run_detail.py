"""One run: its config and its loss and accuracy curves, updating while it trains."""

from __future__ import annotations

import json

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from lmctui.tui.widgets.curve_plot import CurvePlot

REFRESH_SECONDS = 1.0


class RunDetailScreen(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield Static("", id="run-config")
            with Vertical():
                yield CurvePlot(id="loss-plot")
                yield CurvePlot(id="acc-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data()
        self.set_interval(REFRESH_SECONDS, self.refresh_data)

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="run-detail")
    def _load(self) -> None:
        shown = self.app.views.run(self.run_id)
        self.app.call_from_thread(self.show, shown)

    def show(self, shown: dict | None) -> None:
        if shown is None:
            self.query_one("#run-config", Static).update(f"run {self.run_id} is gone")
            return
        run = shown["run"]
        lines = [f"{k:>11}: {_short(v)}" for k, v in run.items() if v is not None]
        train = (shown.get("config") or {}).get("train", {})
        lines += ["", "training config:"] + [f"{k:>14}: {v}" for k, v in train.items()]
        self.query_one("#run-config", Static).update("\n".join(lines))
        metrics = shown["metrics"]
        epochs = [m["epoch"] for m in metrics]
        self.query_one("#loss-plot", CurvePlot).draw(f"loss, run {self.run_id}", "epoch", [
            ("train loss", epochs, [m["train_loss"] for m in metrics]),
            ("test loss", epochs, [m["test_loss"] for m in metrics])])
        self.query_one("#acc-plot", CurvePlot).draw("accuracy", "epoch", [
            ("train acc", epochs, [m["train_acc"] for m in metrics]),
            ("test acc", epochs, [m["test_acc"] for m in metrics])])


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
