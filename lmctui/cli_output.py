"""How the CLI talks: JSON or tables on stdout, messages and progress bars on stderr."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.table import Table

from lmctui.formatting import format_cell
from lmctui.jsonio import dumps_strict

# Piped output gets a wide table rather than 80 squeezed columns, unless $COLUMNS says how wide (a pager, a
# log read in a narrow terminal): rich reads $COLUMNS itself when no width is given.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 240)
stderr = Console(stderr=True, soft_wrap=True)


def emit_json(doc: dict) -> None:
    """One strict JSON document on stdout: a non-finite number (a diverged loss) becomes null."""
    sys.stdout.write(dumps_strict(doc).decode() + "\n")
    sys.stdout.flush()


def message(text: str) -> None:
    sys.stdout.flush()  # what stdout printed first shows first where both streams go to one terminal or file
    stderr.print(text, markup=False, highlight=False)


def print_table(rows: list[dict], columns: list[str], title: str | None = None, drop: tuple[str, ...] = (),
                wrap: tuple[str, ...] = ()) -> None:
    """A table that fits the terminal without cutting an id, a name or a number.

    When the columns are wider than the terminal, the ones in `drop` go first, in that
    order; the `wrap` columns (free text) fold onto more lines instead. What was hidden is
    said on stderr, with the flag that shows it.
    """
    cells = [[format_cell(row.get(c)) for c in columns] for row in rows]
    need = _needed_widths(cells, columns, wrap)
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
    if hidden:
        message(f"(hidden to fit {stdout.width} columns: {', '.join(hidden)}; --json shows all)")


def table_fits(rows: list[dict], columns: list[str]) -> bool:
    """Whether the table of these columns fits stdout's width without dropping any of them."""
    cells = [[format_cell(row.get(c)) for c in columns] for row in rows]
    return _table_width(_needed_widths(cells, columns, ()).values()) <= stdout.width


WRAPPED_MIN = 12  # a free-text column folds, but never narrower than this


def _needed_widths(cells: list[list[str]], columns: list[str], wrap: tuple[str, ...]) -> dict[str, int]:
    """Each column's width: its widest cell or header (a `wrap` column folds down to WRAPPED_MIN)."""
    natural = {c: max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)}
    return {c: min(natural[c], WRAPPED_MIN) if c in wrap else natural[c] for c in columns}


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


class StepProgress:
    """Progress of long work counted in steps (STE matching, curve points): on a terminal, a rich
    bar per task on stderr; elsewhere (a log, a pipe) one line per quarter of each task of at
    least LINES_FROM steps, so a long STE matching shows it is moving without a line per step.

    A task whose count starts again (the next run's STE matching within one average) starts
    its bar and its quarters again.
    """

    LINES_FROM = 100

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.terminal = enabled and sys.stderr.isatty()
        self._bars = None
        self._tasks: dict[str, int] = {}
        self._last: dict[str, tuple[int, int]] = {}  # task -> (done, quarter said)

    @contextmanager
    def running(self) -> Iterator["StepProgress"]:
        """Bars are drawn from the first step reported to the end of this block."""
        try:
            yield self
        finally:
            if self._bars is not None:
                self._bars.stop()
                self._bars = None

    def __call__(self, task: str, done: int, total: int, status: str = "") -> None:
        if not self.enabled or total <= 0:
            return
        last_done, said = self._last.get(task, (0, 0))
        if done < last_done:
            said = 0  # counting again
        if self.terminal:
            self._bar(task, done, total, status)
            self._last[task] = (done, said)
            return
        quarter = 4 * done // total
        if total >= self.LINES_FROM and quarter > said:
            said = quarter
            message(f"[{done / total:4.0%}] {task}: {done}/{total}" + (f", {status}" if status else ""))
        self._last[task] = (done, said)

    def _bar(self, task: str, done: int, total: int, status: str) -> None:
        if self._bars is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bars = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                  TextColumn("{task.fields[status]}"), TimeRemainingColumn(), console=stderr)
            self._bars.start()
        if task not in self._tasks:
            self._tasks[task] = self._bars.add_task(task, total=total, status="")
        elif done < self._last.get(task, (0, 0))[0]:
            self._bars.reset(self._tasks[task], total=total)
        self._bars.update(self._tasks[task], total=total, completed=done, status=status)

    def steps(self, task: str):
        """An `on_step(step, steps, loss)` callback (STE matching) reporting as `task`."""
        return lambda step, steps, loss: self(task, step, steps, f"loss {loss:.4f}")

    def points(self):
        """An `on_progress(method, done, total)` callback (the points of each curve)."""
        return lambda method, done, total: self(f"{method} curve", done, total)
