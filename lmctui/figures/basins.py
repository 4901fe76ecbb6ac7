"""The pairwise barrier matrix as a heatmap ordered by cluster, under its dendrogram."""

from __future__ import annotations

import numpy as np

from lmctui.figures.style import add_caption, caption_text, new_figure, styled


def _square(matrix: list[list]) -> np.ndarray:
    m = np.array([[np.nan if v is None else float(v) for v in row] for row in matrix], dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError("the barrier matrix must be square")
    off = ~np.eye(len(m), dtype=bool)
    if np.isnan(m[off]).any():
        raise ValueError("the barrier matrix has pairs without a curve")
    return m


def _linkage(m: np.ndarray, method: str):
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    # As lmctui.core.basins clusters them: the two directions of a pair averaged, negative
    # barriers (the midpoint beats the line) clipped to 0.
    distance = np.clip((m + m.T) / 2, 0, None)
    np.fill_diagonal(distance, 0)
    return linkage(squareform(distance, checks=False), method=method)


def cluster_order(matrix: list[list], linkage: str = "average") -> list[int]:
    """The networks' order in the dendrogram: basins side by side."""
    from scipy.cluster.hierarchy import leaves_list

    m = _square(matrix)
    return list(range(len(m))) if len(m) < 2 else [int(i) for i in leaves_list(_linkage(m, linkage))]


def plot_basins(tree_ax, heat_ax, matrix: list[list], labels: list[str], threshold: float,
                metric: str = "loss_barrier_test", colorbar: bool = True, linkage: str = "average") -> None:
    """Dendrogram on `tree_ax` (cut at `threshold`), the matrix in its order on `heat_ax`."""
    from scipy.cluster.hierarchy import dendrogram

    m = _square(matrix)
    order = cluster_order(matrix, linkage)
    if len(m) >= 2:
        dendrogram(_linkage(m, linkage), ax=tree_ax, no_labels=True, color_threshold=threshold,
                   above_threshold_color="0.5")
        tree_ax.axhline(threshold, color="k", linestyle=":", linewidth=0.8, label=f"threshold {threshold:g}")
        tree_ax.legend(loc="upper right")
    tree_ax.set_xticks([])
    tree_ax.set_ylabel("barrier")
    ordered = m[np.ix_(order, order)]
    # A mesh of rectangles, not an image: it stays vector in PDF and SVG.
    mesh = heat_ax.pcolormesh(np.ma.masked_invalid(ordered), cmap="magma", vmin=0)
    heat_ax.set_xlim(0, len(m)), heat_ax.set_ylim(len(m), 0)
    ticks = np.arange(len(m)) + 0.5
    names = [labels[i] for i in order]
    heat_ax.set_xticks(ticks, names, rotation=90)
    heat_ax.set_yticks(ticks, names)
    heat_ax.set_xlabel("network (ordered by cluster)")
    heat_ax.set_ylabel("network")
    if colorbar:
        bar = heat_ax.figure.colorbar(mesh, ax=heat_ax, label=metric.replace("_", " "), fraction=0.046)
        bar.solids.set_rasterized(False)  # matplotlib rasterizes long colorbars; keep the file all vector


def basins_figure(matrix: list[list], labels: list[str], threshold: float, metric: str = "loss_barrier_test",
                  style: str = "screen", context: list[dict] | None = None, title: str = "",
                  linkage: str = "average"):
    """The dendrogram over the ordered heatmap, captioned with the networks' setting."""
    with styled(style) as plt:
        fig, axes = new_figure(plt, style, 1, 2, gridspec_kw={"height_ratios": [1, 2.5]})
        tree_ax, heat_ax = axes[0][0], axes[1][0]
        plot_basins(tree_ax, heat_ax, matrix, labels, threshold, metric, linkage=linkage)
        if title:
            tree_ax.set_title(title)
        add_caption(fig, caption_text(context or []))
        fig.tight_layout()
    return fig
