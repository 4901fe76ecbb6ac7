"""Loss and accuracy along the interpolation path, one colour per method."""

from __future__ import annotations

import numpy as np

from lmctui.figures.style import add_caption, caption_text, method_color, new_figure, styled

SPLITS = (("test", "-"), ("train", "--"))


def setting_of(curve: dict) -> str:
    """A curve's line in the legend: its method, REPAIR curves apart ('weight repair')."""
    return curve["method"] + (" repair" if curve.get("repair") else "")


def _mean_band(curves: list[dict], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """alpha, mean, min and max over the curves of `key`, on the first curve's grid
    (a curve on another grid is read there by linear interpolation)."""
    alpha = np.asarray(curves[0]["alpha"], dtype=float)
    values = np.stack([np.interp(alpha, c["alpha"], np.asarray(c[key], dtype=float))
                       for c in curves])  # (pairs, points)
    return alpha, values.mean(0), values.min(0), values.max(0)


def plot_curves(loss_ax, acc_ax, curves: list[dict]) -> None:
    """Test (solid) and train (dashed) loss and accuracy along alpha; where several pairs
    share a setting, their mean with the min-max band over pairs."""
    settings: dict[str, list[dict]] = {}
    for curve in curves:
        settings.setdefault(setting_of(curve), []).append(curve)
    others: list[str] = []
    for setting, group in settings.items():
        color = method_color(setting, others)
        label = setting + (f" (mean of {len(group)} pairs)" if len(group) > 1 else "")
        for split, line in SPLITS:
            for ax, metric in ((loss_ax, "loss"), (acc_ax, "acc")):
                alpha, mean, low, high = _mean_band(group, f"{split}_{metric}")
                ax.plot(alpha, mean, line, color=color, label=f"{label}, {split}" if ax is loss_ax else None)
                if len(group) > 1:
                    ax.fill_between(alpha, low, high, color=color, alpha=0.15, linewidth=0)
    for ax, name in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel(r"$\alpha$ (0: A, 1: B)")
        ax.set_ylabel(name)
        ax.set_xlim(0, 1)
    loss_ax.legend(loc="best")


def curves_figure(curves: list[dict], style: str = "screen"):
    """The curves' loss (left) and accuracy (right), captioned with their setting."""
    if not curves:
        raise ValueError("no curves to draw")
    with styled(style) as plt:
        rows, columns = (2, 1) if style == "paper" else (1, 2)
        fig, axes = new_figure(plt, style, columns, rows)
        loss_ax, acc_ax = axes.flat
        plot_curves(loss_ax, acc_ax, curves)
        add_caption(fig, caption_text(curves))
        fig.tight_layout()
    return fig
