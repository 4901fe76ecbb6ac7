"""Figures: real files in each format, vector-clean, that change with what they show."""

import math
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib", reason="figures need the plot extra: pip install -e '.[plot]'")

from lmctui.figures import (basins_figure, caption_text, cluster_order, curves_figure, save_figure,  # noqa: E402
                            sweep_figure, sweep_series, training_figure)

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}
CONTEXT = {"dataset": "moons", "arch": "mlp", "width": 16, "depth": 2, "norm": "none"}


def curve(method, run_a="a", run_b="b", bump=1.0, points=11):
    alpha = [i / (points - 1) for i in range(points)]
    hill = [bump * math.sin(math.pi * a) for a in alpha]
    return {**CONTEXT, "method": method, "run_a": run_a, "run_b": run_b, "alpha": alpha,
            "train_loss": [0.1 + h for h in hill], "test_loss": [0.2 + h for h in hill],
            "train_acc": [0.99 - h / 4 for h in hill], "test_acc": [0.95 - h / 4 for h in hill]}


def sweep_rows(methods):
    return [{"value": w, "method": m, "run_a": f"a{s}", "run_b": f"b{s}", "loss_barrier_test": 1 / w + 0.1 * s}
            for m in methods for w in (2, 8, 32) for s in range(3)]


MATRIX = [[0, 0.01, 0.9, 0.8], [0.02, 0, 0.85, 0.9], [0.9, 0.8, 0, 0.03], [0.8, 0.9, 0.01, 0]]
HISTORY = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.2 / e, "train_acc": 1 - 0.5 / e, "test_acc": 1 - 0.6 / e}
           for e in range(1, 6)]
KINDS = {
    "curves": lambda methods, style="screen": curves_figure([curve(m) for m in methods], style),
    "sweep": lambda methods, style="screen": sweep_figure(sweep_rows(methods), "width", style=style,
                                                          context=[CONTEXT]),
    "basins": lambda methods, style="screen": basins_figure(  # one more network per method: a bigger matrix
        [row[:len(methods) + 2] for row in MATRIX[:len(methods) + 2]], "abcd"[:len(methods) + 2], 0.1, style=style,
        context=[CONTEXT]),
    "training": lambda methods, style="screen": training_figure(
        [{**CONTEXT, "id": f"run{i}", "history": HISTORY} for i, _ in enumerate(methods)], style),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_each_kind_writes_a_real_file_in_each_format(tmp_path, kind, suffix):
    path = save_figure(KINDS[kind](["naive", "weight"]), tmp_path / f"figure{suffix}")
    data = path.read_bytes()
    assert path.stat().st_size > 5_000
    if suffix == ".svg":
        assert b"<svg" in data[:500] and data.rstrip().endswith(b"</svg>")
        assert b"<image" not in data, "vector-clean: no raster inside"
    else:
        assert data.startswith(MAGIC[suffix])
    if suffix == ".pdf":
        assert b"/Subtype /Image" not in data, "vector-clean: no raster inside"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_figure_of_two_differs_from_a_figure_of_one(tmp_path, kind):
    one = save_figure(KINDS[kind](["naive"]), tmp_path / "one.svg").read_bytes()
    again = save_figure(KINDS[kind](["naive"]), tmp_path / "again.svg").read_bytes()
    two = save_figure(KINDS[kind](["naive", "weight"]), tmp_path / "two.svg").read_bytes()
    assert one == again, "the same data gives the same file"
    assert one != two


def test_legend_names_every_method_and_the_caption_the_setting(tmp_path):
    svg = save_figure(KINDS["curves"](["naive", "weight", "ste"]), tmp_path / "c.svg").read_text()
    for name in ("naive, test", "weight, test", "ste, train", "loss", "accuracy", "moons · mlp · width 16 · depth 2"):
        assert name in svg, name


def test_paper_style_is_one_column_at_nine_points():
    for kind in KINDS:
        fig = KINDS[kind](["naive", "weight"], "paper")
        assert fig.get_size_inches()[0] == pytest.approx(3.25)
        sizes = {t.get_fontsize() for ax in fig.axes for t in [ax.xaxis.label, ax.yaxis.label] if t.get_text()}
        assert sizes == {9}, kind


def test_curves_of_several_pairs_show_their_mean_with_the_spread():
    from matplotlib.collections import PolyCollection

    fig = curves_figure([curve("weight", bump=0.5), curve("weight", "c", "d", bump=1.5)])
    loss_ax = fig.axes[0]
    test_line = next(line for line in loss_ax.get_lines()
                     if line.get_label().startswith("weight (mean of 2 pairs), test"))
    assert max(test_line.get_ydata()) == pytest.approx(0.2 + 1.0)  # the mean of the two hills' tops
    assert any(isinstance(c, PolyCollection) for c in loss_ax.collections), "a band over pairs"


def test_sweep_series_against_hand_computed_means():
    series = sweep_series(sweep_rows(["weight"]))["weight"]
    assert [p[0] for p in series] == [2, 8, 32]
    assert series[0][1:] == pytest.approx((0.5 + 0.1, 0.5, 0.7))
    summary = [{"value": 4, "method": "naive", "loss_barrier_test_mean": 1.0, "loss_barrier_test_std": 0.25}]
    assert sweep_series(summary)["naive"] == [(4, 1.0, 0.75, 1.25)]


def test_cluster_order_puts_each_basin_together():
    # 6 networks, basins {0, 3, 5} and {1, 2, 4}: small barriers inside, large across.
    basin = [0, 1, 1, 0, 1, 0]
    matrix = [[0 if i == j else (0.01 * (i + j) if basin[i] == basin[j] else 1 + 0.01 * i * j) for j in range(6)]
              for i in range(6)]
    order = cluster_order(matrix)
    assert sorted(order) == list(range(6))
    labels = [basin[i] for i in order]
    assert labels in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match="pairs without a curve"):
        basins_figure([[0, None], [None, 0]], ["a", "b"], 0.1)
    with pytest.raises(ValueError, match=r"\.png, \.pdf, \.svg"):
        save_figure(KINDS["curves"](["naive"]), tmp_path / "figure.jpg")
    with pytest.raises(ValueError, match="style"):
        curves_figure([curve("naive")], "poster")
    with pytest.raises(ValueError, match="history"):
        training_figure([{"id": "x", "history": []}])


def test_caption_joins_what_differs():
    assert caption_text([CONTEXT, {**CONTEXT, "width": 64}]) == "moons · mlp · width 16, 64 · depth 2"


def test_importing_the_figures_loads_neither_matplotlib_nor_torch():
    code = "import sys, lmctui.figures; print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
