"""Training curves of several runs overlaid: loss and accuracy per epoch."""

from __future__ import annotations

from lmctui.figures.style import add_caption, caption_text, new_figure, styled

SPLITS = (("test", "-"), ("train", "--"))  # the train figures are running means over each epoch


def plot_training(loss_ax, acc_ax, runs: list[dict]) -> None:
    """`runs`: documents with an `id` and a `history` (metrics.jsonl rows: epoch, train_loss,
    train_acc, test_loss, test_acc); one colour per run, test solid, train dashed."""
    for i, run in enumerate(runs):
        history = sorted(run.get("history") or [], key=lambda row: row["epoch"])
        color = f"C{i % 10}"
        for split, line in SPLITS:
            for ax, metric in ((loss_ax, "loss"), (acc_ax, "acc")):
                points = [(row["epoch"], row[f"{split}_{metric}"]) for row in history
                          if row.get(f"{split}_{metric}") is not None]
                if points:
                    ax.plot(*zip(*points), line, color=color,
                            label=f"{run.get('label') or run['id']}, {split}" if ax is loss_ax else None)
    for ax, name in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
    loss_ax.legend(loc="best")


def training_figure(runs: list[dict], style: str = "screen"):
    """The runs' loss (left) and accuracy (right) per epoch, captioned with their setting."""
    if not any(run.get("history") for run in runs):
        raise ValueError("none of the runs has a training history")
    with styled(style) as plt:
        rows, columns = (2, 1) if style == "paper" else (1, 2)
        fig, axes = new_figure(plt, style, columns, rows)
        plot_training(*axes.flat, runs)
        add_caption(fig, caption_text(runs))
        fig.tight_layout()
    return fig
