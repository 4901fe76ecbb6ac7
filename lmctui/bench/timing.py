"""Timing two things against each other on a shared machine."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def interleaved_medians(timers: dict, repeats: int, log=lambda text: None) -> dict[str, float]:
    """Median of the seconds each timer returns, run in turns (A, B, A, B, ...): on a shared
    machine the load changes from one minute to the next, and neighbours see the same load."""
    times = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            times[name].append(timer())
            log(f"  {name}: {times[name][-1]:.3f} s")
    return {name: statistics.median(values) for name, values in times.items()}


def timed(fn) -> Callable[[], float]:
    """A timer: calls `fn`, returns its seconds."""
    def timer() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return timer
