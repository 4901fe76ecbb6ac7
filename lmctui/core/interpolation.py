"""Loss and accuracy along the straight line between two networks, and its barriers.

theta(alpha) = (1 - alpha) * theta_A + alpha * theta_B. The loss barrier is
max over alpha of L(theta(alpha)) - ((1 - alpha) L(theta_A) + alpha L(theta_B)); the
error barrier is the same with error = 1 - accuracy (DESIGN.md, "Numerics").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from lmctui.configs import InterpolationOptions
from lmctui.core.calibration import channel_stats, has_batchnorm, recalibrate, repair_modules
from lmctui.core.data import Dataset
from lmctui.core.evaluation import evaluate
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.stacked import LineStack, evaluate_stack
from lmctui.core.stopping import StopCheck, check_stop
from lmctui.core.weights import StateDict, lerp_state  # lerp_state: also imported from here by service/regions.py

DEFAULT_POINTS = InterpolationOptions.points
CALIBRATION_SAMPLES = 10_000  # BatchNorm reset and REPAIR statistics: enough, and bounded
BATCHED_CPU_MAX_WIDTH = 256  # measured on a 2-core CPU: batching loses beyond this (benchmarks/)


@dataclass(frozen=True)
class Curve:
    alpha: list[float]
    train_loss: list[float]
    test_loss: list[float]
    train_acc: list[float]
    test_acc: list[float]

    def summary(self) -> dict:
        """Barriers on both splits, plus the values at the midpoint alpha = 0.5."""
        mid = int(np.argmin(np.abs(np.asarray(self.alpha) - 0.5)))
        out = {}
        for split in ("train", "test"):
            loss, acc = getattr(self, f"{split}_loss"), getattr(self, f"{split}_acc")
            out[f"loss_barrier_{split}"] = barrier(self.alpha, loss)
            out[f"error_barrier_{split}"] = barrier(self.alpha, [1 - a for a in acc])
            out[f"mid_loss_{split}"] = loss[mid]
            out[f"mid_acc_{split}"] = acc[mid]
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), **self.summary()}


def alpha_grid(points: int) -> list[float]:
    """`points` evenly spaced alphas from 0 to 1; 0.5 is on it when `points` is odd."""
    if points < 2:
        raise ValueError("an interpolation needs at least 2 points")
    return [i / (points - 1) for i in range(points)]


def barrier(alpha: list[float], values: list[float]) -> float:
    """max over alpha of values(alpha) minus the straight line between the endpoints."""
    a = np.asarray(alpha, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    line = (1 - a) * v[0] + a * v[-1]
    return float(np.max(v - line))


def interpolate(config: ModelConfig, state_a: StateDict, state_b: StateDict, data: Dataset,
                options: InterpolationOptions = InterpolationOptions(),
                on_point: Callable[[int, int], None] | None = None, should_stop: StopCheck | None = None) -> Curve:
    """Evaluate the network at every alpha on the grid, on the train and test splits.

    `data` and both states must be on the same device. `should_stop` is asked before
    every alpha evaluated on its own (`Cancelled`); the batched path is one step.
    """
    device = data.x_train.device
    alphas = alpha_grid(options.points)
    if batching_pays(config, device) and not options.repair and not (options.resets_bn and config.norm == "batch"):
        check_stop(should_stop)
        return _interpolate_batched(config, state_a, state_b, data, alphas, on_point)
    at = point_evaluator(config, state_a, state_b, data, options)
    rows = []
    for i, alpha in enumerate(alphas):
        check_stop(should_stop)
        rows.append(at(alpha))
        if on_point is not None:
            on_point(i + 1, len(alphas))
    train_loss, train_acc, test_loss, test_acc = (list(col) for col in zip(*rows))
    return Curve(alphas, train_loss, test_loss, train_acc, test_acc)


def point_evaluator(config: ModelConfig, state_a: StateDict, state_b: StateDict, data: Dataset,
                    options: InterpolationOptions = InterpolationOptions()
                    ) -> Callable[[float], tuple[float, float, float, float]]:
    """alpha -> (train loss, train acc, test loss, test acc) of the network at alpha.

    One network at a time, with the BatchNorm reset and REPAIR of `options`: what
    `interpolate` computes at each grid point, at any alpha (barrier refinement).
    """
    device = data.x_train.device
    model = build_model(config).to(device)
    calibration = data.x_train[:CALIBRATION_SAMPLES]
    targets = _repair_endpoint_stats(config, state_a, state_b, calibration, device) if options.repair else None

    def at(alpha: float) -> tuple[float, float, float, float]:
        model.load_state_dict(lerp_state(state_a, state_b, alpha))
        handles = []
        if (options.resets_bn and has_batchnorm(model)) or targets:
            mixed = _mix_targets(targets, alpha) if targets else None
            handles = recalibrate(model, calibration, reset_bn=options.resets_bn, repair_targets=mixed)
        row = (*evaluate(model, data.x_train, data.y_train), *evaluate(model, data.x_test, data.y_test))
        for handle in handles:
            handle.remove()
        return row

    return at


def batching_pays(config: ModelConfig, device: torch.device) -> bool:
    """Batching all alphas wins where per-alpha overhead dominates: on a GPU, and for
    narrow MLPs on a CPU. Wide networks on a CPU are bound by arithmetic and memory,
    and evaluating S copies at once only spills the caches (see benchmarks/)."""
    return device.type == "cuda" or (config.arch == "mlp" and config.width <= BATCHED_CPU_MAX_WIDTH)


def _interpolate_batched(config, state_a, state_b, data, alphas, on_point) -> Curve:
    """Every alpha's network in one vectorized pass per batch (no per-alpha reloads)."""
    stack = LineStack(config, state_a, state_b, alphas)
    train_loss, train_acc = evaluate_stack(stack, data.x_train, data.y_train)
    test_loss, test_acc = evaluate_stack(stack, data.x_test, data.y_test)
    if on_point is not None:
        on_point(len(alphas), len(alphas))
    return Curve(alphas, train_loss.tolist(), test_loss.tolist(), train_acc.tolist(), test_acc.tolist())


def _repair_endpoint_stats(config, state_a, state_b, x, device):
    names = repair_modules(config)
    stats = []
    for state in (state_a, state_b):
        model = build_model(config).to(device)
        model.load_state_dict(state)
        stats.append(channel_stats(model, names, x))
    return {name: (stats[0][name], stats[1][name]) for name in names}


def _mix_targets(targets, alpha):
    return {name: ((1 - alpha) * a_mean + alpha * b_mean, (1 - alpha) * a_std + alpha * b_std)
            for name, ((a_mean, a_std), (b_mean, b_std)) in targets.items()}
