"""The stop check of the work running in this thread.

A job's `should_stop` (cancel, SIGTERM to the worker, the app closing, Slurm's warning) must
reach loops deep inside an alignment method, an interpolation or an average. The method
registry's signature is shared with methods registered from outside, so it does not carry
it: the use case sets it around its work (`stopping`), and each long computation passes
`current()` to the core, which raises `Cancelled` between steps. Thread-local, because a
worker thread runs one job at a time.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from lmctui.core.stopping import StopCheck, check_stop

_local = threading.local()


@contextmanager
def stopping(should_stop: StopCheck | None):
    """Make `should_stop` the stop check of this thread's work inside the block."""
    previous = getattr(_local, "check", None)
    _local.check = should_stop
    try:
        yield
    finally:
        _local.check = previous


def current() -> StopCheck | None:
    """This thread's stop check (None: nothing can stop the work but Ctrl-C)."""
    return getattr(_local, "check", None)


def raising() -> StopCheck:
    """A stop check that raises `Cancelled` itself: for a loop that would otherwise end early
    with a result (STE keeps the best permutation seen) when the job must stop instead."""
    check = current()
    return lambda: check_stop(check)
