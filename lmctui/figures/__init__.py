"""Figures for a paper, drawn with matplotlib from plain data (documents and rows).

Each kind has a `plot_*` that draws onto axes it is given (the studies in `experiments/`
lay several out on one figure) and a `*_figure` that makes a whole captioned figure;
`save_figure` writes .png, .pdf or .svg by the extension. matplotlib is the `plot` extra:
it is imported only when a figure is drawn. Importing this package loads nothing (not even
numpy): the names below are found in their modules on first use, so a command that only
checks a file name or a style stays fast.
"""

import importlib

_HOMES = {
    "basins": ("basins_figure", "cluster_order", "plot_basins"),
    "curves": ("curves_figure", "plot_curves"),
    "style": ("FORMATS", "STYLES", "caption_text", "pyplot", "save_figure"),
    "sweep": ("plot_sweep", "sweep_figure", "sweep_series"),
    "training": ("plot_training", "training_figure"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'lmctui.figures' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lmctui.figures.{_MODULE_OF[name]}"), name)
