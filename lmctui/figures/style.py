"""How every figure looks: the two styles, one colour per method, the caption, and saving."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FORMATS = (".png", ".pdf", ".svg")
PNG_DPI = 300  # print resolution; the vector formats do not need one
# Text stays text in vector files (TrueType in PDF, <text> in SVG) so a journal can reset it,
# and SVG ids do not change from one save to the next.
VECTOR_RC = {"pdf.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "lmctui"}


@dataclass(frozen=True)
class Style:
    width: float  # inches
    height: float  # inches, of one row of panels
    font_size: float  # points


STYLES = {
    "screen": Style(7.0, 3.0, 10),
    "paper": Style(3.25, 2.0, 9),  # one column of a two-column paper
}
# One colour per method in every figure, so a reader can match panels across a paper.
METHOD_COLORS = {"naive": "tab:red", "weight": "tab:blue", "activation": "tab:green", "ste": "tab:purple",
                 "mergemany": "tab:orange", "universe": "tab:brown"}
OTHER_COLORS = ("tab:cyan", "tab:olive", "tab:pink", "tab:gray")


def method_color(method: str, others: list[str] | None = None) -> str:
    """The colour of a method; `others` lists the other names met so far (REPAIR variants
    such as 'weight repair'), so each gets its own."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    others = others if others is not None else []
    if method not in others:
        others.append(method)
    return OTHER_COLORS[others.index(method) % len(OTHER_COLORS)]


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only: no display is ever needed)."""
    try:
        import matplotlib
    except ImportError as error:
        raise RuntimeError("figures need matplotlib: pip install 'lmctui[plot]'") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def styled(style: str):
    """matplotlib settings of `style` while a figure is drawn."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    plt = pyplot()
    size = STYLES[style].font_size
    with plt.rc_context({"font.size": size, "axes.titlesize": size, "axes.labelsize": size, "legend.fontsize": size - 1,
                         "xtick.labelsize": size - 1, "ytick.labelsize": size - 1, "lines.linewidth": 1.2}):
        yield plt


def new_figure(plt, style: str, columns: int = 1, rows: int = 1, **kwargs):
    """A figure as wide as the style says, `rows` panel rows tall."""
    look = STYLES[style]
    return plt.subplots(rows, columns, figsize=(look.width, look.height * rows), squeeze=False, **kwargs)


def caption_text(docs: list[dict]) -> str:
    """'data set · architecture · width' of the documents, each field's values joined."""
    parts = []
    for key, label in (("dataset", ""), ("arch", ""), ("width", "width "), ("depth", "depth "), ("norm", "norm ")):
        values = list(dict.fromkeys(str(d[key]) for d in docs if d.get(key) not in (None, "")))
        if values and not (key == "norm" and values == ["none"]):
            parts.append(label + ", ".join(values))
    return " · ".join(parts)


def add_caption(fig, text: str) -> None:
    if text:
        fig.text(0.5, 0.0, text, ha="center", va="top", fontsize="small")


def save_figure(fig, path) -> Path:
    """Write `fig` to `path` in the format its extension names, and close it."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"the figure's file must end in {', '.join(FORMATS)}, got {path.name!r}")
    plt = pyplot()
    try:
        # No timestamps in the vector files: the same data gives the same bytes.
        metadata = {"png": None, "pdf": {"CreationDate": None}, "svg": {"Date": None}}[path.suffix.lower()[1:]]
        with plt.rc_context(VECTOR_RC):
            fig.savefig(path, dpi=PNG_DPI, bbox_inches="tight", metadata=metadata)
    finally:
        plt.close(fig)
    return path
