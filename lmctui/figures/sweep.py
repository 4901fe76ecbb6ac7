"""A barrier against a swept setting (width, learning rate, ...), one line per method."""

from __future__ import annotations

import statistics

from lmctui.figures.style import add_caption, caption_text, method_color, new_figure, styled


def sweep_series(rows: list[dict], metric: str = "loss_barrier_test", x: str = "value"
                 ) -> dict[str, list[tuple]]:
    """method -> [(x, mean, low, high)] in the rows' order of x.

    Rows of single pairs (`metric` in them) are summarized here: the mean and the min-max
    band over pairs. Summary rows (`{metric}_mean`, `{metric}_std`) give mean +- 1 sd.
    """
    series: dict[str, dict] = {}
    for row in rows:
        series.setdefault(row["method"], {}).setdefault(row[x], []).append(row)
    out = {}
    for method, by_x in series.items():
        points = []
        for value, group in by_x.items():
            if f"{metric}_mean" in group[0]:
                mean, sd = group[0][f"{metric}_mean"], group[0].get(f"{metric}_std") or 0.0
                points.append((value, mean, mean - sd, mean + sd))
            else:
                values = [r[metric] for r in group if r.get(metric) is not None]
                if values:
                    points.append((value, statistics.fmean(values), min(values), max(values)))
        out[method] = points
    return out


def plot_sweep(ax, rows: list[dict], metric: str = "loss_barrier_test", x: str = "value", log_x: bool = False,
               label: str = "", x_label: str | None = None) -> None:
    """Mean barrier per method with its band, against the swept value (categorical when
    the values are names, e.g. optimizers)."""
    series = sweep_series(rows, metric, x)
    names = list(dict.fromkeys(p[0] for points in series.values() for p in points))
    categorical = any(isinstance(v, str) for v in names)
    others: list[str] = []
    for method, points in series.items():
        if not points:
            continue
        xs = [names.index(p[0]) if categorical else p[0] for p in points]
        color = method_color(method, others)
        ax.plot(xs, [p[1] for p in points], marker="o", markersize=3, color=color, label=f"{label}{method}")
        ax.fill_between(xs, [p[2] for p in points], [p[3] for p in points], color=color, alpha=0.15, linewidth=0)
    if categorical:
        ax.set_xticks(range(len(names)), names)
    elif log_x:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(x_label or x)
    ax.set_ylabel(metric.replace("_", " "))
    if series:
        ax.legend(loc="best")


def sweep_figure(rows: list[dict], axis: str, metric: str = "loss_barrier_test", style: str = "screen",
                 context: list[dict] | None = None):
    """One sweep's barrier against its axis; `context` (run or curve documents) names the setting."""
    if not rows:
        raise ValueError("the sweep has no rows yet")
    values = [r["value"] for r in rows]
    log_x = axis in ("width", "lr", "batch_size", "epochs") and all(
        isinstance(v, (int, float)) and v > 0 for v in values) and max(values) / min(values) >= 8
    with styled(style) as plt:
        fig, axes = new_figure(plt, style)
        plot_sweep(axes[0][0], rows, metric, log_x=log_x, x_label=axis)
        add_caption(fig, caption_text(context or []))
        fig.tight_layout()
    return fig
