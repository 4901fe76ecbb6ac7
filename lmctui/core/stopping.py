"""Cooperative cancellation: every long loop of the core asks `should_stop()` between steps.

A job is stopped (cancelled, or its worker told to stop by SIGTERM or Ctrl-C) by making
its `should_stop` return true, or the status to record ("cancelled", "interrupted"). The
loop then raises `Cancelled` at the next step boundary, where nothing is half-done.
"""

from __future__ import annotations

from typing import Callable

StopCheck = Callable[[], object]


class Cancelled(Exception):
    """Raised inside a long computation when `should_stop()` turns true.

    `should_stop` may return the status to record ("cancelled", "interrupted").
    """

    def __init__(self, status: str = "cancelled"):
        super().__init__(status)
        self.status = status
        self.capture = None  # training sets it: () -> the states to resume from, as they stood


def check_stop(should_stop: StopCheck | None) -> None:
    """Raise Cancelled between steps if the caller asked to stop."""
    if should_stop is not None:
        stop = should_stop()
        if stop:
            raise Cancelled(stop if isinstance(stop, str) else "cancelled")
