"""How the CLI talks: JSON or tables on stdout, messages and progress bars on stderr."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.table import Table

from lmctui.formatting import format_cell
from lmctui.jsonio import dumps_strict

# Piped output gets a wide table rather than 80 squeezed columns.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
stderr = Console(stderr=True, soft_wrap=True)


def emit_json(doc: dict) -> None:
    """One strict JSON document on stdout: a non-finite number (a diverged loss) becomes null."""
    sys.stdout.write(dumps_strict(doc).decode() + "\n")
    sys.stdout.flush()


def message(text: str) -> None:
    stderr.print(text, markup=False, highlight=False)


def print_table(rows: list[dict], columns: list[str], title: str | None = None, drop: tuple[str, ...] = (),
                wrap: tuple[str, ...] = ()) -> None:
    """A table that fits the terminal without cutting an id, a name or a number.

    When the columns are wider than the terminal, the ones in `drop` go first, in that
    order; the `wrap` columns (free text) fold onto more lines instead. What was hidden is
    said on stderr, with the flag that shows it.
    """
    cells = [[format_cell(row.get(c)) for c in columns] for row in rows]
    natural = {c: max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)}
    need = {c: min(natural[c], WRAPPED_MIN) if c in wrap else natural[c] for c in columns}
    shown = list(columns)
    for column in drop:
        if _table_width(need[c] for c in shown) <= stdout.width:
            break
        if column in shown:
            shown.remove(column)
    table = Table(title=title, show_lines=False)
    for column in shown:
        table.add_column(column, no_wrap=column not in wrap, overflow="fold", min_width=need[column])
    for line in cells:
        table.add_row(*(value for value, column in zip(line, columns) if column in shown))
    stdout.print(table)
    hidden = [c for c in columns if c not in shown]
    if hidden and sys.stdout.isatty():
        message(f"(hidden to fit {stdout.width} columns: {', '.join(hidden)}; --json shows all)")


WRAPPED_MIN = 12  # a free-text column folds, but never narrower than this


def _table_width(widths) -> int:
    """Rich's default table: one border, then each column's text, its padding and a border."""
    return 1 + sum(w + 3 for w in widths)


class TrainProgress:
    """A rich progress bar per run on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self._bars = None
        self._tasks: dict[str, int] = {}

    @contextmanager
    def running(self) -> Iterator["TrainProgress"]:
        if not self.enabled:
            yield self
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                      TimeRemainingColumn(), console=stderr, transient=False) as bars:
            self._bars = bars
            yield self
        self._bars = None

    def __call__(self, run_id: str, event) -> None:
        if self._bars is None:
            return
        if run_id not in self._tasks:
            self._tasks[run_id] = self._bars.add_task(f"run {run_id}", total=None, status="")
        task = self._tasks[run_id]
        if hasattr(event, "test_acc"):  # an epoch ended (core's EpochEnd, read by its fields)
            self._bars.update(task, total=event.epochs, completed=event.epoch,
                              status=f"test acc {event.test_acc:.3f}")
        elif hasattr(event, "step"):  # steps within an epoch
            self._bars.update(task, total=None, completed=None, status=f"epoch {event.epoch}")
