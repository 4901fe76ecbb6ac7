"""`lmctui-cli plot KIND ...`: figures for a paper, written as .png, .pdf or .svg (from --out).

The data comes from the registry through `service.figures`, the drawing from
`lmctui.figures` (matplotlib, the `plot` extra), the same as the app's figure key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lmctui.cli_options import BasinLinkage, BasinMethod, BasinMetric, Home, Json, Threshold
from lmctui.cli_output import emit_json, message
from lmctui.cli_run import command, registry_at
from lmctui.parsing import parse_csv_words
from lmctui.service.methods import curve_methods

plot_app = typer.Typer(help="Draw a figure into a file: .png, .pdf or .svg, from --out's extension.",
                       no_args_is_help=True)
FigureOut = Annotated[Path, typer.Option("--out", help="The figure's file: .png, .pdf or .svg")]
Style = Annotated[str, typer.Option(help="screen, or paper: one column, 3.25 in wide, 9 pt")]
Runs = Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes)")]


def _draw(kind: str, ids: list[str], out: Path, style: str, home, as_json: bool, **options) -> None:
    from lmctui.service.figures import plot

    made = plot(registry_at(home), kind, ids, out, style, **options)
    emit_json({"figure": made}) if as_json else message(f"wrote {made['path']} ({made['bytes']} bytes)")


@plot_app.command("curves")
@command
def curves(runs: Runs, out: FigureOut,
           methods: Annotated[Optional[str], typer.Option(help="Comma list of methods [default: every one stored]")]
           = None, style: Style = "screen", home: Home = None, json: Json = False):
    """Loss and accuracy along alpha of the curves between the runs: one colour per method, the mean
    with its min-max band where several pairs share a method."""
    chosen = parse_csv_words(methods, curve_methods(), "methods") if methods else ()
    _draw("curves", runs, out, style, home, json, methods=chosen)


@plot_app.command("sweep")
@command
def sweep(sweep_id: Annotated[str, typer.Argument(help="Sweep id (or unique prefix)")], out: FigureOut,
          metric: BasinMetric = "loss_barrier_test", style: Style = "screen", home: Home = None, json: Json = False):
    """A sweep's barrier against its swept axis, one line per method with its band over pairs."""
    _draw("sweep", [sweep_id], out, style, home, json, metric=metric)


@plot_app.command("basins")
@command
def basins(runs: Runs, out: FigureOut, threshold: Threshold = 0.1, method: BasinMethod = "aligned",
           metric: BasinMetric = "loss_barrier_test", linkage: BasinLinkage = "average", style: Style = "screen",
           home: Home = None, json: Json = False):
    """The pairwise barrier heatmap ordered by cluster, under its dendrogram cut at the threshold."""
    _draw("basins", runs, out, style, home, json, threshold=threshold, method=method, metric=metric,
          linkage=linkage)


@plot_app.command("training")
@command
def training(runs: Runs, out: FigureOut, style: Style = "screen", home: Home = None, json: Json = False):
    """The runs' loss and accuracy per epoch, overlaid."""
    _draw("training", runs, out, style, home, json)
