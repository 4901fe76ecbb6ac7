"""Straight-through estimator matching (Ainsworth et al. 2022, section 3.3).

Learn free weights W, started at A. At each step W is projected onto the permutations
of B (weight matching: the P for which P(B) is closest to W), and the training loss is
taken at the midpoint 0.5 (A + P(B)). The projection has no useful gradient, so the
straight-through estimator lets the gradient through as if W were P(B): the forward
pass uses P(B), the backward pass updates W. The permutation kept is the one with the
lowest midpoint loss among all those the projections visited, plus the identity (so the
result is never worse than not aligning, on the samples it is measured on).

The first projection is weight matching of A itself, with `restarts` visiting orders drawn
from the options' seed (the best kept), so a seed and a restart count mean the same here
as for weight matching: a poor local optimum there is a poor start here. Later
projections start from the previous step's permutation, one visiting order each.

Networks with BatchNorm are run in train mode (batch statistics) for both the steps and
the candidates' losses: the midpoint's running statistics would be stale anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch.func import functional_call
from torch.nn import functional as F

from lmctui.configs import STEOptions, TrainConfig
from lmctui.core.calibration import has_batchnorm
from lmctui.core.evaluation import EVAL_BATCH
from lmctui.core.matching import weight_matching
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.optim import Optimizer
from lmctui.core.permutation import PermutationSpec, Permutations, apply_permutation, identity_perms
from lmctui.core.weights import StateDict


@dataclass(frozen=True)
class STEResult:
    perms: Permutations  # to apply to B
    midpoint_loss: float  # of `perms`, on the evaluation samples
    identity_loss: float  # the naive midpoint's, on the same samples
    first_loss: float  # that of the first projection (weight matching of A itself)
    start: Permutations  # that first projection: the best of the restarts
    start_objectives: tuple[float, ...]  # each restart's final <A, P(B)>
    start_restart: int  # the restart `start` came from
    step_losses: tuple[float, ...]  # the training loss at the straight-through midpoint, per step
    candidates: int  # distinct permutations measured
    best_step: int  # the step whose projection gave `perms` (0: before any step; -1: the identity)
    seconds: float


def ste_matching(config: ModelConfig, spec: PermutationSpec, state_a: StateDict, state_b: StateDict,
                 x: torch.Tensor, y: torch.Tensor, options: STEOptions = STEOptions(),
                 on_step: Callable[[int, int, float], None] | None = None,
                 should_stop: Callable[[], object] | None = None, restarts: int = 1) -> STEResult:
    """Learn the permutation of B whose midpoint with A has the lowest loss on (x, y).

    `x`, `y` (training data) and both states on one device. `on_step(step, steps, loss)`
    after each step; `should_stop()` is checked between steps and ends the search early
    with the best permutation so far. `restarts`: the visiting orders (from `options.seed`)
    the first projection tries.
    """
    options.validate()
    start = time.perf_counter()
    model = build_model(config).to(x.device)
    model.train(has_batchnorm(model))
    names = {n for n, _ in model.named_parameters()}
    x_eval, y_eval = x[:options.eval_samples], y[:options.eval_samples]
    measured: dict[tuple, float] = {}

    def midpoint_loss(perms: Permutations) -> float:
        key = _key(perms)
        if key not in measured:
            measured[key] = _loss(model, _midpoint(state_a, apply_permutation(spec, perms, state_b)), x_eval, y_eval)
        return measured[key]

    identity = identity_perms(spec, state_a)
    best = (midpoint_loss(identity), -1, identity)
    w = {k: state_a[k].detach().clone().requires_grad_() for k in names}
    optimizer = Optimizer(list(w.values()), TrainConfig(optimizer="adam", lr=options.lr), steps_per_epoch=1)
    order = torch.Generator().manual_seed(options.seed)
    start_match = weight_matching(spec, state_a, state_b, seed=options.seed, restarts=restarts)
    perms, batches, losses = start_match.perms, [], []
    first_loss = midpoint_loss(perms)
    for step in range(options.steps + 1):
        if step > 0:
            # Project the current W (A's buffers ride along; they are not matched) onto B's permutations.
            perms = weight_matching(spec, {**state_a, **{k: v.detach() for k, v in w.items()}}, state_b,
                                    init=perms).perms
        loss_here = midpoint_loss(perms)
        if loss_here < best[0]:
            best = (loss_here, step, perms)
        if step == options.steps or (should_stop is not None and should_stop()):
            break
        if not batches:
            batches = list(torch.randperm(len(x), generator=order).to(x.device).split(options.batch_size))
        idx = batches.pop()
        projected = apply_permutation(spec, perms, state_b)
        through = {k: projected[k] + (w[k] - w[k].detach()) for k in names}  # value P(B), gradient to W
        loss = F.cross_entropy(_forward(model, _midpoint(state_a, {**projected, **through}), x[idx]), y[idx])
        optimizer.step(torch.autograd.grad(loss, optimizer.params))
        losses.append(loss.item())
        if on_step is not None:
            on_step(step + 1, options.steps, losses[-1])
    return STEResult(best[2], best[0], measured[_key(identity)], first_loss, start_match.perms,
                     tuple(start_match.restart_objectives), start_match.best_restart, tuple(losses), len(measured),
                     best[1], time.perf_counter() - start)


def _key(perms: Permutations) -> tuple:
    return tuple(tuple(perms[p].tolist()) for p in sorted(perms))


def _midpoint(a: StateDict, b: StateDict) -> StateDict:
    """0.5 (a + b) for float tensors; integer buffers from a."""
    return {k: 0.5 * (a[k] + b[k]) if a[k].is_floating_point() else a[k] for k in a}


def _forward(model, state: StateDict, x: torch.Tensor) -> torch.Tensor:
    # Copies of the buffers: a train-mode BatchNorm updates its running statistics in place.
    state = {k: v if v.requires_grad or not v.is_floating_point() else v.clone() for k, v in state.items()}
    return functional_call(model, state, (x,))


@torch.no_grad()
def _loss(model, state: StateDict, x: torch.Tensor, y: torch.Tensor) -> float:
    total = sum(F.cross_entropy(_forward(model, state, x[i:i + EVAL_BATCH]), y[i:i + EVAL_BATCH], reduction="sum")
                for i in range(0, len(x), EVAL_BATCH))
    return float(total) / len(x)
