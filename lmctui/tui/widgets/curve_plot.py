"""Line plots in the terminal, drawn by plotext through textual-plotext."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from lmctui.plots import METHOD_COLORS


class CurvePlot(PlotextPlot):
    """Overlaid lines: `draw(title, xlabel, [(label, xs, ys), ...])`."""

    def draw(self, title: str, xlabel: str, lines: list[tuple[str, list, list]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        for label, xs, ys in lines:
            if xs:
                plt.plot(xs, ys, label=label, marker="braille", color=METHOD_COLORS.get(label.split()[0]))
        self.refresh()
