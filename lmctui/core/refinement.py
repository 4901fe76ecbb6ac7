"""Refine a barrier found on a grid: search around the grid's maximum for a higher one.

The barrier is a maximum over alpha, but a grid only sees the alphas on it: a narrow
peak between two grid points is missed or under-read. `refine_barrier` takes the grid's
best point and its two neighbours as a bracket and runs a golden-section search inside
it on the gap between the curve and the straight line between the endpoints. The
result is the largest gap seen, grid points included, so refinement can only raise
the barrier. A peak that lies wholly between two grid points neither of which is the
grid's maximum is outside the bracket: more grid points are the remedy there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from lmctui.configs import InterpolationOptions
from lmctui.core.data import Dataset
from lmctui.core.interpolation import Curve, point_evaluator
from lmctui.core.models import ModelConfig
from lmctui.core.weights import StateDict

REFINE_POINTS = 8  # golden-section steps: the bracket (2 grid steps wide) shrinks to 0.62^8 = 2 % of it
GOLDEN = (3 - math.sqrt(5)) / 2  # 0.382: the fraction of the larger segment where the next point goes


@dataclass(frozen=True)
class RefinedBarrier:
    barrier: float  # the largest gap over the line seen, grid and refinement points together
    alpha: float  # where it lies
    grid_barrier: float  # the grid's barrier, as `interpolation.barrier` gives it
    grid_alpha: float
    alphas: tuple[float, ...]  # the extra alphas evaluated, in the order they were
    values: tuple[float, ...]  # the curve's values there

    def to_dict(self) -> dict:
        return {"barrier": self.barrier, "alpha": self.alpha, "grid_barrier": self.grid_barrier,
                "grid_alpha": self.grid_alpha, "alphas": list(self.alphas), "values": list(self.values)}


def refine_barrier(alpha: list[float], values: list[float], evaluate: Callable[[float], float],
                   points: int = REFINE_POINTS) -> RefinedBarrier:
    """Golden-section search for max over alpha of evaluate(alpha) - line(alpha) near the grid's maximum.

    `alpha` (ascending, from 0 to 1) and `values` are the grid curve; `evaluate(alpha)`
    gives the curve's value anywhere, `points` times.
    """
    if len(alpha) != len(values) or len(alpha) < 2:
        raise ValueError("a curve needs at least 2 points, as many values as alphas")
    start, end = values[0], values[-1]

    def gap(a: float, value: float) -> float:
        return value - ((1 - a) * start + a * end)

    gaps = [gap(a, v) for a, v in zip(alpha, values)]
    k = max(range(len(gaps)), key=gaps.__getitem__)
    low, x, high = alpha[max(k - 1, 0)], alpha[k], alpha[min(k + 1, len(alpha) - 1)]
    best_gap, best_alpha = gaps[k], alpha[k]
    fx, seen_alphas, seen_values = gaps[k], [], []
    for _ in range(points):
        # Keep a bracket (low, x, high) whose middle point is the highest seen; probe the larger side.
        u = x - GOLDEN * (x - low) if x - low > high - x else x + GOLDEN * (high - x)
        value = evaluate(u)
        seen_alphas.append(u), seen_values.append(value)
        fu = gap(u, value)
        if fu > fx:
            low, high = (low, x) if u < x else (x, high)
            x, fx = u, fu
        else:
            low, high = (u, high) if u < x else (low, u)
        if fu > best_gap:
            best_gap, best_alpha = fu, u
    return RefinedBarrier(best_gap, best_alpha, gaps[k], alpha[k], tuple(seen_alphas), tuple(seen_values))


METRICS = {"loss": lambda row, split: row[0 if split == "train" else 2],
           "error": lambda row, split: 1 - row[1 if split == "train" else 3]}


def refine_curve(config: ModelConfig, state_a: StateDict, state_b: StateDict, data: Dataset, curve: Curve,
                 options: InterpolationOptions = InterpolationOptions(), split: str = "test",
                 metric: str = "loss", points: int = REFINE_POINTS) -> RefinedBarrier:
    """Refine the `metric` (loss or error) barrier of `curve` on `split`, evaluating the
    network between grid points as `interpolate` evaluates it on the grid."""
    if split not in ("train", "test") or metric not in METRICS:
        raise ValueError(f"split must be train or test and metric loss or error, got {split!r}, {metric!r}")
    grid = getattr(curve, f"{split}_loss") if metric == "loss" else [1 - a for a in getattr(curve, f"{split}_acc")]
    at = point_evaluator(config, state_a, state_b, data, options)
    return refine_barrier(curve.alpha, grid, lambda alpha: METRICS[metric](at(alpha), split), points)
