"""Line plots in the terminal, drawn by plotext through textual-plotext, with the legend
on its own line under the plot (plotext's own legend sits on top of the curves)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Static
from textual_plotext import PlotextPlot

from lmctui.plots import line_color, use_log_axis


class CurvePlot(Vertical):
    """Overlaid lines: `draw(title, xlabel, [(label, xs, ys), ...], log_x=False)`."""

    DEFAULT_CSS = """
    CurvePlot { height: 1fr; }
    CurvePlot > PlotextPlot { height: 1fr; }
    CurvePlot > .legend { height: auto; max-height: 2; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield PlotextPlot()
        yield Static("", classes="legend")

    def draw(self, title: str, xlabel: str, lines: list[tuple[str, list, list]], log_x: bool = False) -> None:
        """Draw the lines; `log_x` asks for a log x axis where the values span a factor of 8 or more."""
        try:
            plot = self.query_one(PlotextPlot)
        except NoMatches:  # drawn before its parts are mounted (a loaded machine): once they are
            self.call_after_refresh(self.draw, title, xlabel, lines, log_x)
            return
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        legend, xs_all = Text(), []
        for i, (label, xs, ys) in enumerate(lines):
            points = [(x, y) for x, y in zip(xs, ys) if y is not None]
            if not points:
                continue
            color = line_color(label, i)
            plt.plot([x for x, _ in points], [y for _, y in points], marker="braille", color=color)
            xs_all += [x for x, _ in points]
            legend.append("  " if legend else "").append("━━ ", style=color).append(label)
        values = sorted(set(xs_all))
        self.log_x = log_x and use_log_axis(values)  # what the x axis is now
        if self.log_x:
            plt.xscale("log")
            plt.xticks(values, [f"{v:g}" for v in values])
        self.query_one(".legend", Static).update(legend)
        plot.refresh()
