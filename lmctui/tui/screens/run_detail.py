"""One run: its figures and whole config (scrolls), and its loss and accuracy curves, live."""

from __future__ import annotations

import json

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from lmctui.service.views import restart_spread
from lmctui.tui.rows import DETAIL_REFRESH_SECONDS, export_figure
from lmctui.tui.screens.closing import BACK
from lmctui.tui.widgets.curve_plot import CurvePlot

FIRST = ("id", "status", "test_acc", "test_loss", "train_acc", "train_loss", "epochs_done", "seconds")
CONFIG_PARTS = ("data", "model", "train")


class RunDetailScreen(Screen):
    BINDINGS = [BACK,
                Binding("j", "scroll('down')", "Down", show=False), Binding("k", "scroll('up')", "Up", show=False),
                Binding("f", "figure", "Figure")]

    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id
        self.sub_title = f"run {run_id}  (j/k or arrows: scroll the config)"
        self._shown = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with VerticalScroll(id="run-config-scroll"):
                yield Static("loading ...", id="run-config")
            with Vertical():
                yield CurvePlot(id="loss-plot")
                yield CurvePlot(id="acc-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#run-config-scroll").focus()
        self.refresh_data()
        self.set_interval(DETAIL_REFRESH_SECONDS, self.refresh_data)

    def refresh_data(self) -> None:
        self._load()

    def action_figure(self) -> None:
        """The run's training curves as a PDF under HOME/exports/."""
        export_figure(self.app, "training", [self.run_id])

    @work(thread=True, exclusive=True, group="run-detail")
    def _load(self) -> None:
        shown = self.app.views.run(self.run_id)
        if shown is not self._shown or shown is None:
            self.app.call_from_thread(self.show, shown)

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one("#run-config-scroll", VerticalScroll)
        scroll.scroll_down() if where == "down" else scroll.scroll_up()

    def show(self, shown: dict | None) -> None:
        self._shown = shown
        if shown is None:
            self.query_one("#run-config", Static).update(f"run {self.run_id} is gone")
            return
        self.query_one("#run-config", Static).update(describe_run(shown))
        metrics = shown["metrics"]
        epochs = [m["epoch"] for m in metrics]
        self.query_one("#loss-plot", CurvePlot).draw("loss", "epoch", [
            ("train loss", epochs, [m.get("train_loss") for m in metrics]),
            ("test loss", epochs, [m.get("test_loss") for m in metrics])])
        self.query_one("#acc-plot", CurvePlot).draw("accuracy", "epoch", [
            ("train acc", epochs, [m.get("train_acc") for m in metrics]),
            ("test acc", epochs, [m.get("test_acc") for m in metrics])])


def describe_run(shown: dict) -> Text:
    """The run's figures first, then every other field, then its whole config, part by part."""
    run = shown["run"]
    text = Text()
    for keys in (FIRST, [k for k in run if k not in FIRST]):
        for key in keys:
            if run.get(key) not in (None, [], ""):
                text.append(f"{key:>13}: ", style="dim")
                text.append(f"{_short(run[key])}\n", style="bold" if key in FIRST[:4] else "")
        if keys is FIRST and run.get("kind") == "aligned":
            text.append_text(describe_alignment(shown.get("alignment")))
            text.append("\n")
    if run.get("error"):
        text.append(f"\n{run['error']}\n", style="red")
    config = shown.get("config") or {}
    for part in CONFIG_PARTS + tuple(k for k in config if k not in CONFIG_PARTS):
        value = config.get(part)
        if value in (None, {}, []):
            continue
        text.append(f"\n{part} config:\n", style="bold")
        for key, item in (value.items() if isinstance(value, dict) else [("", value)]):
            text.append(f"{key:>15}: ", style="dim")
            text.append(f"{_short(item)}\n")
    files = shown.get("files") or {}
    if files:
        text.append("\nfiles:\n", style="bold")
        for name, state in files.items():
            text.append(f"{name:>15}: {state}\n", style="" if state == "ok" else "yellow")
    return text


def describe_alignment(alignment: dict | None) -> Text:
    """How an aligned run was made: the method, and weight matching's restarts with the best
    objective and the spread over restarts (or STE's midpoint losses), under the run's figures."""
    text = Text("\nalignment:\n", style="bold")
    if alignment is None:
        return text.append("  no stored alignment made this run\n", style="dim")
    rows = [("method", f"{alignment.get('method')} (seed {alignment.get('seed')})"),
            ("aligned to", alignment.get("run_a")), ("from", alignment.get("run_b"))]
    spread = restart_spread(alignment)
    if spread is not None:
        rows += [("restarts", f"{spread['restarts']} (best: restart {spread['best_restart']})"),
                 ("objective", f"{spread['best']:.6g} (the best)"),
                 ("spread", f"{spread['min']:.4g} / {spread['median']:.4g} / {spread['max']:.4g}"),
                 ("", "min / median / max")]
    if alignment.get("method") == "ste":
        ste = alignment.get("ste") or {}
        rows += [("STE steps", f"{ste.get('steps')} (lr {ste.get('lr')})"), ("best step", alignment.get("best_step")),
                 ("midpoint loss", f"{_short(alignment.get('midpoint_loss'))} (identity "
                                   f"{_short(alignment.get('identity_loss'))})")]
    for key, value in rows:
        if value is not None:
            text.append(f"{key:>13}: " if key else " " * 15, style="dim")
            text.append(f"{value}\n", style="dim" if not key else "bold" if key in ("objective", "spread") else "")
    return text


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
