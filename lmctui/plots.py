"""Terminal plots drawn with plotext, shared by the CLI and the TUI. No torch here."""

from __future__ import annotations

import os
import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# One colour per method, the same everywhere: naive stands out, aligned curves agree.
METHOD_COLORS = {"naive": "red", "weight": "blue", "activation": "green", "train": "cyan", "test": "magenta"}
# ANSI codes of those colours for a legend printed under a plot.
ANSI_COLORS = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36}
FALLBACK_COLORS = ("yellow", "cyan", "magenta", "green", "blue", "red")


def line_color(label: str, index: int) -> str:
    """The colour of a plotted line: its method's, else one of the rest by position."""
    return METHOD_COLORS.get(label.split()[0]) or FALLBACK_COLORS[index % len(FALLBACK_COLORS)]


def use_log_axis(values) -> bool:
    """A log axis for positive numbers spanning a factor of 4 or more (widths are powers of two)."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(numbers) > 1 and len(numbers) == len(list(values)) and min(numbers) > 0 \
        and max(numbers) / min(numbers) >= 4


def legend(labels: list[str], colors: list[str | None], color: bool = True) -> str:
    """One line naming each plotted line, printed under the plot so it covers no curve."""
    parts = []
    for label, name in zip(labels, colors):
        mark = f"\x1b[{ANSI_COLORS[name]}m━━\x1b[0m" if color and name in ANSI_COLORS else "━━"
        parts.append(f"{mark} {label}")
    return "   ".join(parts)


def curves_plot(curves: list[dict], metric: str = "test_loss", width: int = 80, height: int = 20,
                color: bool = True) -> str:
    """Overlay `metric` against alpha for each curve (one line per method)."""
    plt, color = _new_figure(width, height - 1, color)
    labels, colors = [], []
    for i, curve in enumerate(curves):
        labels.append(f"{curve['method']} (barrier {curve[_barrier_key(metric)]:.3f})")
        colors.append(line_color(curve["method"], i))
        plt.plot(curve["alpha"], curve[metric], marker="braille", color=colors[-1] if color else None)
    plt.title(f"{metric.replace('_', ' ')} along the line from A (alpha=0) to B (alpha=1)")
    plt.xlabel("alpha")
    return _build(plt, color) + "\n" + legend(labels, colors, color)


def _barrier_key(metric: str) -> str:
    split = metric.split("_")[0]
    return f"loss_barrier_{split}" if metric.endswith("loss") else f"error_barrier_{split}"


def sweep_plot(summary: list[dict], axis: str, width: int = 80, height: int = 20, color: bool = True) -> str:
    """Mean test loss barrier against the swept value, one line per method."""
    plt, color = _new_figure(width, height - 1, color)
    methods = list(dict.fromkeys(row["method"] for row in summary))
    values = list(dict.fromkeys(row["value"] for row in summary))
    numeric = all(isinstance(v, (int, float)) for v in values)
    colors = [line_color(method, i) for i, method in enumerate(methods)]
    for method, name in zip(methods, colors):
        rows = [r for r in summary if r["method"] == method]
        xs = [r["value"] if numeric else values.index(r["value"]) for r in rows]
        plt.plot(xs, [r["loss_barrier_test_mean"] for r in rows], marker="braille", color=name if color else None)
    if numeric and use_log_axis(values):
        plt.xscale("log")
        plt.xticks(values, [str(v) for v in values])
    if not numeric:
        plt.xticks(list(range(len(values))), [str(v) for v in values])
    plt.title(f"test loss barrier against {axis} (mean over seed pairs)")
    plt.xlabel(axis)
    return _build(plt, color) + "\n" + legend(methods, colors, color)


def _new_figure(width: int, height: int, color: bool):
    """A cleared plotext figure; colour off when asked or when NO_COLOR is set."""
    import plotext as plt

    color = color and not os.environ.get("NO_COLOR")
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro" if color else "clear")
    return plt, color


def _build(plt, color: bool) -> str:
    drawn = plt.build()
    return drawn if color else ANSI.sub("", drawn)  # plotext leaves reset codes even uncoloured
