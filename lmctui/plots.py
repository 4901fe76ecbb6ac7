"""Terminal plots drawn with plotext, shared by the CLI and the TUI. No torch here."""

from __future__ import annotations

import os
import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# One colour per method, the same everywhere: naive stands out, aligned curves agree.
METHOD_COLORS = {"naive": "red", "weight": "blue", "activation": "green", "train": "cyan", "test": "magenta"}


def curves_plot(curves: list[dict], metric: str = "test_loss", width: int = 80, height: int = 20,
                color: bool = True) -> str:
    """Overlay `metric` against alpha for each curve (one line per method)."""
    plt, color = _new_figure(width, height, color)
    for curve in curves:
        label = f"{curve['method']} (barrier {curve[_barrier_key(metric)]:.3f})"
        plt.plot(curve["alpha"], curve[metric], label=label, marker="braille",
                 color=METHOD_COLORS.get(curve["method"]) if color else None)
    plt.title(f"{metric.replace('_', ' ')} along the line from A (alpha=0) to B (alpha=1)")
    plt.xlabel("alpha")
    return _build(plt, color)


def _barrier_key(metric: str) -> str:
    split = metric.split("_")[0]
    return f"loss_barrier_{split}" if metric.endswith("loss") else f"error_barrier_{split}"


def sweep_plot(summary: list[dict], axis: str, width: int = 80, height: int = 20, color: bool = True) -> str:
    """Mean test loss barrier against the swept value, one line per method."""
    plt, color = _new_figure(width, height, color)
    methods = list(dict.fromkeys(row["method"] for row in summary))
    values = list(dict.fromkeys(row["value"] for row in summary))
    numeric = all(isinstance(v, (int, float)) for v in values)
    for method in methods:
        rows = [r for r in summary if r["method"] == method]
        xs = [r["value"] if numeric else values.index(r["value"]) for r in rows]
        plt.plot(xs, [r["loss_barrier_test_mean"] for r in rows], label=method, marker="braille",
                 color=METHOD_COLORS.get(method) if color else None)
    if numeric and len(values) > 1 and min(values) > 0 and max(values) / min(values) >= 8:
        plt.xscale("log")
    if not numeric:
        plt.xticks(list(range(len(values))), [str(v) for v in values])
    plt.title(f"test loss barrier against {axis} (mean over seed pairs)")
    plt.xlabel(axis)
    return _build(plt, color)


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
