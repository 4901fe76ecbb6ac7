"""Find the hidden-unit permutation of network B that best matches network A.

`weight_matching` is the coordinate descent of Ainsworth et al. (2022): each step
solves one linear assignment problem for one permutation with the others fixed.
`activation_matching` assigns units by the correlation of their activations over data.
Both return permutations to apply to B (see permutation.py for the convention).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from lmctui.core.permutation import PermutationSpec, Permutations, StateDict, identity_perms, permute_tensor

IMPROVEMENT_TOLERANCE = 1e-9  # relative: an LAP that gains less than this changes nothing


@dataclass
class MatchResult:
    perms: Permutations
    objective: list[float] = field(default_factory=list)  # <A, P(B)> after each round (weight matching)
    iterations: int = 0  # full rounds over all permutations
    solves: int = 0  # linear assignment problems actually solved
    seconds: float = 0.0


def weight_objective(spec: PermutationSpec, perms: Permutations, a: StateDict, b: StateDict) -> float:
    """The inner product <A, P(B)> summed over every weight that a permutation touches."""
    return _objective(spec, perms, _float64(a), _float64(b))


def _float64(state: StateDict, device=None) -> StateDict:
    return {k: v.to(device or v.device, torch.float64) for k, v in state.items() if v.is_floating_point()}


def weight_matching(spec: PermutationSpec, a: StateDict, b: StateDict, seed: int = 0,
                    max_iter: int = 100, init: Permutations | None = None) -> MatchResult:
    """Coordinate descent over the spec's permutations, maximizing <A, P(B)>.

    Each round visits the permutations in a random order (from `seed`). A permutation
    whose neighbours have not changed since its last solve has the same cost matrix and
    is skipped. Stops when a full round improves nothing, or after `max_iter` rounds.
    """
    start = time.perf_counter()
    spec.check_covers(a)
    perm_axes, neighbours = spec.perm_axes, spec.neighbours()
    device = next(iter(a.values())).device
    a64, b64 = _float64(a, device), _float64(b, device)
    perms = {p: v.to(device) for p, v in (init or identity_perms(spec, a)).items()}
    version = {p: 0 for p in perms}  # bumped whenever a permutation changes
    seen: dict[str, tuple] = {}  # perm -> neighbours' versions at its last solve
    rng = np.random.default_rng(seed)
    names = sorted(perms)
    result = MatchResult(perms)
    for _ in range(max_iter):
        improved = False
        for p in (names[i] for i in rng.permutation(len(names))):
            stamp = tuple(version[q] for q in sorted(neighbours[p])) + (version[p],)
            if seen.get(p) == stamp:
                continue
            cost = _cost_matrix(spec, perm_axes[p], perms, a64, b64).cpu().numpy()  # (n, n)
            rows, cols = linear_sum_assignment(cost, maximize=True)
            result.solves += 1
            old = cost[rows, perms[p].cpu().numpy()].sum()
            new = cost[rows, cols].sum()
            if new > old + IMPROVEMENT_TOLERANCE * max(1.0, abs(old)):
                perms[p] = torch.as_tensor(cols, device=device)
                version[p] += 1
                improved = True
                stamp = stamp[:-1] + (version[p],)
            seen[p] = stamp
        result.iterations += 1
        result.objective.append(_objective(spec, perms, a64, b64))
        if not improved:
            break
    result.perms = {p: v.cpu() for p, v in perms.items()}
    result.seconds = time.perf_counter() - start
    return result


def _cost_matrix(spec, axes_of_p, perms, a64, b64) -> torch.Tensor:
    """C[i, j] = sum over weights touching p of <A's unit i, B's unit j (others permuted)>."""
    n = a64[axes_of_p[0][0]].shape[axes_of_p[0][1]]
    cost = torch.zeros(n, n, dtype=torch.float64, device=next(iter(a64.values())).device)
    for key, axis in axes_of_p:
        if key not in a64:
            continue
        w_a = a64[key].movedim(axis, 0).reshape(n, -1)  # (n, rest)
        w_b = permute_tensor(b64[key], spec.axes[key], perms, skip_axis=axis).movedim(axis, 0).reshape(n, -1)
        cost += w_a @ w_b.T
    return cost


def _objective(spec, perms, a64, b64) -> float:
    total = 0.0
    for key, axes in spec.axes.items():
        if key in a64 and any(p is not None for p in axes):
            total += float((a64[key] * permute_tensor(b64[key], axes, perms)).sum())
    return total


# -- activation matching -------------------------------------------------------------------

@torch.no_grad()
def activation_matching(spec: PermutationSpec, model_a: nn.Module, model_b: nn.Module, x: torch.Tensor,
                        batch_size: int = 1024) -> MatchResult:
    """Match each permutation's units by the correlation of their activations on `x`.

    One assignment per permutation, on the sum of correlation matrices over everything
    observed of its units: the post-ReLU activations (as in Ainsworth et al.) and, where
    the ReLU is applied to a module output, the pre-activations too. The latter keep
    units that never fire on `x` identifiable instead of tying them at zero. Stream
    permutations observed at several points (ResNet) add up every point.
    """
    start = time.perf_counter()
    moments: dict[tuple, CrossMoments] = {}
    with ActivationCapture(model_a, spec) as acts_a, ActivationCapture(model_b, spec) as acts_b:
        for i in range(0, len(x), batch_size):
            acts_a.clear(), acts_b.clear()
            model_a(x[i:i + batch_size]), model_b(x[i:i + batch_size])
            for key in acts_a:
                moments.setdefault(key, CrossMoments()).add(acts_a[key], acts_b[key])
    perms = {}
    for p in spec.activations:
        score = sum(m.correlation() for key, m in moments.items() if key[0] == p)  # (n, n)
        _, cols = linear_sum_assignment(score.cpu().numpy(), maximize=True)
        perms[p] = torch.as_tensor(cols)
    return MatchResult(perms, iterations=1, solves=len(perms), seconds=time.perf_counter() - start)


class CrossMoments:
    """Streaming sums for the correlation between every unit of A and every unit of B."""

    def __init__(self):
        self.n = 0
        self.sum_a = self.sum_b = self.sq_a = self.sq_b = self.cross = 0.0

    def add(self, a: torch.Tensor, b: torch.Tensor) -> None:
        a, b = a.double(), b.double()  # (samples, units)
        self.n += len(a)
        self.sum_a = self.sum_a + a.sum(0)
        self.sum_b = self.sum_b + b.sum(0)
        self.sq_a = self.sq_a + (a * a).sum(0)
        self.sq_b = self.sq_b + (b * b).sum(0)
        self.cross = self.cross + a.T @ b  # (units_a, units_b)

    def correlation(self) -> torch.Tensor:
        mean_a, mean_b = self.sum_a / self.n, self.sum_b / self.n
        cov = self.cross / self.n - torch.outer(mean_a, mean_b)
        std_a = (self.sq_a / self.n - mean_a ** 2).clamp_min(0).sqrt()
        std_b = (self.sq_b / self.n - mean_b ** 2).clamp_min(0).sqrt()
        return cov / (torch.outer(std_a, std_b) + 1e-12)  # dead units correlate with nothing


class ActivationCapture(dict):
    """(perm, point index, "pre"|"post") -> (samples, units) activations of the last
    forward pass, via hooks.

    Use as a context manager so the hooks are always removed; the model runs in eval mode.
    """

    def __init__(self, model: nn.Module, spec: PermutationSpec):
        super().__init__()
        self.model, self.spec, self._handles = model, spec, []

    def __enter__(self) -> "ActivationCapture":
        modules = dict(self.model.named_modules())
        for perm, points in self.spec.activations.items():
            for index, point in enumerate(points):
                hook = self._hook((perm, index), point.relu)
                self._handles.append(modules[point.module].register_forward_hook(hook))
        self._was_training = self.model.training
        self.model.eval()
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self.model.train(self._was_training)

    def _hook(self, key: tuple, relu: bool):
        def hook(module, inputs, output):
            units = output.movedim(1, -1).reshape(-1, output.shape[1])  # (samples, units)
            if relu:
                self[key + ("pre",)] = units
                self[key + ("post",)] = torch.relu(units)
            else:
                self[key + ("post",)] = units
        return hook
