"""Figures for a paper, drawn with matplotlib from plain data (documents and rows).

Each kind has a `plot_*` that draws onto axes it is given (the studies in `experiments/`
lay several out on one figure) and a `*_figure` that makes a whole captioned figure;
`save_figure` writes .png, .pdf or .svg by the extension. matplotlib is the `plot` extra:
it is imported only when a figure is drawn, never when this package is imported.
"""

from lmctui.figures.basins import basins_figure, cluster_order, plot_basins
from lmctui.figures.curves import curves_figure, plot_curves
from lmctui.figures.style import FORMATS, STYLES, caption_text, pyplot, save_figure
from lmctui.figures.sweep import plot_sweep, sweep_figure, sweep_series
from lmctui.figures.training import plot_training, training_figure

__all__ = ["FORMATS", "STYLES", "basins_figure", "caption_text", "cluster_order", "curves_figure", "plot_basins",
           "plot_curves", "plot_sweep", "plot_training", "pyplot", "save_figure", "sweep_figure", "sweep_series",
           "training_figure"]
