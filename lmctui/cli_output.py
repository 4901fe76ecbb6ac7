"""How the CLI talks: JSON or tables on stdout, messages and progress bars on stderr."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.table import Table

from lmctui.formatting import format_cell

# Piped output gets a wide table rather than 80 squeezed columns.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
stderr = Console(stderr=True, soft_wrap=True)


def emit_json(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, default=str) + "\n")
    sys.stdout.flush()


def message(text: str) -> None:
    stderr.print(text, markup=False, highlight=False)


def print_table(rows: list[dict], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*(format_cell(row.get(c)) for c in columns))
    stdout.print(table)


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
