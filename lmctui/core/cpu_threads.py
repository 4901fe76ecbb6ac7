"""How many intra-op threads torch uses for short ops on a CPU that other processes keep busy.

Results do not depend on it (tests/test_vectorized.py trains the same weights either way).
"""

from __future__ import annotations

import contextlib
import os
import threading

import torch


BUSY_MARGIN = 0.5  # cores: one other process at work already makes two threads wait on each other


class _OneThread:
    """torch's thread count is the process's: the first of the works that want one thread sets
    it, the last to finish gives the count back (worker threads run jobs side by side)."""

    def __init__(self):
        self.lock, self.users, self.before = threading.Lock(), 0, 1

    def __enter__(self) -> None:
        with self.lock:
            if not self.users:
                self.before = torch.get_num_threads()
                torch.set_num_threads(1)
            self.users += 1

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.users -= 1
            if not self.users:
                torch.set_num_threads(self.before)


_ONE_THREAD = _OneThread()


def intra_op_threads(device: torch.device) -> contextlib.AbstractContextManager:
    """One intra-op thread while a CPU is busy: less than half a core free on average (the
    1-minute load average at least its cores less BUSY_MARGIN).

    Every op of 64 seeds' stack at width 32 is a tenth of a millisecond: split over threads,
    each op waits for the slowest, and on a busy CPU that is a thread the scheduler took away.
    Measured on 2 shared cores at load 5: 64 seeds ran 60 ms an epoch on one thread, 80 to 120
    on two; a 25-point curve at digits width 256, 100 ms against 310.
    """
    if device.type != "cpu" or os.getloadavg()[0] < len(os.sched_getaffinity(0)) - BUSY_MARGIN:
        return contextlib.nullcontext()
    return _ONE_THREAD
