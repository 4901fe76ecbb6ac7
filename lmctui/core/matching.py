"""Find the hidden-unit permutation of network B that best matches network A.

`weight_matching` is the coordinate descent of Ainsworth et al. (2022): each step
solves one linear assignment problem for one permutation with the others fixed, or,
for an attention layer's heads, one assignment of heads to heads over the best
within-head assignments (assignment.py).
`activation_matching` assigns units by the correlation of their activations over data.
Both return permutations to apply to B (see permutation.py for the convention).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lmctui.core.assignment import assign_all, coordinates, solve_group
from lmctui.core.permutation import (ActivationPoint, Joined, PermutationSpec, Permutations, StateDict, identity_perms,
                                     permute_tensor)
from lmctui.core.stopping import StopCheck, check_stop

IMPROVEMENT_TOLERANCE = 1e-12  # relative: an LAP that gains less than this changes nothing


@dataclass
class MatchResult:
    perms: Permutations
    objective: list[float] = field(default_factory=list)  # <A, P(B)> after each round (weight matching)
    iterations: int = 0  # full rounds over all permutations (all restarts)
    solves: int = 0  # linear assignment problems actually solved (all restarts)
    seconds: float = 0.0
    restart_objectives: list[float] = field(default_factory=list)  # each restart's final <A, P(B)>
    best_restart: int = 0  # the restart whose permutations these are


def weight_objective(spec: PermutationSpec, perms: Permutations, a: StateDict, b: StateDict) -> float:
    """The inner product <A, P(B)> summed over every weight that a permutation touches.

    Weights only: BatchNorm running statistics are permuted with their units but are not
    parameters, and their scale is arbitrary (a running variance can dominate the sum).
    """
    return _objective(spec, perms, _weights64(spec, a), _weights64(spec, b))


def _weights64(spec: PermutationSpec, state: StateDict, device=None) -> StateDict:
    """The matched weights (see `PermutationSpec.matched_keys`) in float64."""
    return {k: state[k].to(device or state[k].device, torch.float64) for k in spec.matched_keys
            if state[k].is_floating_point()}


def weight_matching(spec: PermutationSpec, a: StateDict, b: StateDict, seed: int = 0,
                    max_iter: int = 100, init: Permutations | None = None, restarts: int = 1,
                    should_stop: StopCheck | None = None) -> MatchResult:
    """Coordinate descent over the spec's permutations, maximizing <A, P(B)>.

    Each round visits the permutations in a random order (from `seed`) and solves one
    linear assignment problem for each. It stops when a full round improves nothing,
    or after `max_iter` rounds. Coordinate descent stops at a local optimum that the
    visiting order decides, so `restarts` runs it with the seeds seed, seed + 1, ...
    (all from `init`) and keeps the best; every restart's final objective is kept in
    `restart_objectives` so the spread shows. Ties go to the earliest restart.
    `should_stop` is asked before every round (`Cancelled` when it says stop).
    """
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    start = time.perf_counter()
    spec.check_covers(a)
    device = next(iter(a.values())).device
    a64, b64 = _weights64(spec, a, device), _weights64(spec, b, device)
    first = {p: v.to(device) for p, v in (init or identity_perms(spec, a)).items()}
    runs = [_descend(spec, a64, b64, dict(first), seed + r, max_iter, should_stop) for r in range(restarts)]
    finals = [run.objective[-1] for run in runs]
    best = max(range(restarts), key=lambda r: (finals[r], -r))
    result = runs[best]
    result.iterations = sum(run.iterations for run in runs)
    result.solves = sum(run.solves for run in runs)
    result.restart_objectives, result.best_restart = finals, best
    result.seconds = time.perf_counter() - start
    return result


def _descend(spec: PermutationSpec, a64: StateDict, b64: StateDict, perms: Permutations, seed: int,
             max_iter: int, should_stop: StopCheck | None = None) -> MatchResult:
    """One coordinate descent from `perms` (changed in place), visiting in the order `seed` draws.

    A coordinate is one free permutation, or one block group (an attention layer's heads)
    solved whole by `assignment.block_assignment`. Work that cannot change the answer is
    not redone: a coordinate whose neighbours have not moved since its last solve has the
    same cost matrices and is skipped, and each weight's share of a cost matrix is kept
    and updated in place for the few units a neighbour moved (see `CostTerms`).
    """
    coords = coordinates(spec, sorted(perms))
    neighbours = _coordinate_neighbours(spec, coords)
    device = next(iter(a64.values())).device
    terms = CostTerms(spec, a64, b64)
    version = {c: 0 for c in coords}  # bumped whenever a coordinate's permutations change
    seen: dict[str, tuple] = {}  # coordinate -> neighbours' versions at its last solve
    rng = np.random.default_rng(seed)
    names = sorted(coords)
    result = MatchResult(perms)
    objective = _objective(spec, perms, a64, b64)

    def solve(c: str) -> tuple[dict[str, np.ndarray], float, float]:
        members, group = coords[c]
        costs = [terms.cost(p, perms).cpu().numpy() for p in members]  # (n, n) each
        found = solve_group(members, group, costs)
        rows = [np.arange(len(cost)) for cost in costs]
        old = sum(cost[r, perms[p].cpu().numpy()].sum() for p, cost, r in zip(members, costs, rows))
        new = sum(cost[r, found[p]].sum() for p, cost, r in zip(members, costs, rows))
        return found, old, new

    with ThreadPoolExecutor(max_workers=max(1, min(len(names), os.cpu_count() or 1))) as pool:
        for _ in range(max_iter):
            check_stop(should_stop)
            improved = False
            order = [names[i] for i in rng.permutation(len(names))]
            for run in independent_runs(order, neighbours):
                stale = []
                for c in run:
                    stamp = tuple(version[q] for q in sorted(neighbours[c]))
                    if seen.get(c) != stamp:
                        seen[c] = stamp
                        stale.append(c)
                # Members of a run share no weight, so solving them at once (scipy
                # releases the GIL) gives exactly what solving them in order would.
                for c, (found, old, new) in zip(stale, pool.map(solve, stale)):
                    result.solves += 1
                    if new > old + IMPROVEMENT_TOLERANCE * max(1.0, abs(old)):
                        perms.update({p: torch.as_tensor(v, device=device) for p, v in found.items()})
                        version[c] += 1
                        objective += new - old  # the other coordinates' share of <A, P(B)> did not move
                        improved = True
            result.iterations += 1
            result.objective.append(float(objective))
            if not improved:
                break
    result.objective[-1] = _objective(spec, perms, a64, b64)  # exact, free of accumulated rounding
    result.perms = {p: v.cpu() for p, v in perms.items()}
    return result


def _coordinate_neighbours(spec: PermutationSpec, coords: dict) -> dict[str, set[str]]:
    """coordinate -> the other coordinates sharing a weight with one of its permutations."""
    owner = {p: c for c, (members, _) in coords.items() for p in members}
    perm_neighbours = spec.neighbours()
    return {c: {owner[q] for p in members for q in perm_neighbours[p]} - {c} for c, (members, _) in coords.items()}


def independent_runs(order: list[str], neighbours: dict[str, set[str]]) -> list[list[str]]:
    """Split a visiting order into consecutive runs of permutations that share no weight."""
    runs: list[list[str]] = []
    for p in order:
        if runs and not any(q in neighbours[p] for q in runs[-1]):
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


class CostTerms:
    """Each weight's share of each permutation's cost matrix, kept between solves.

    For permutation p and a weight W whose p-axis has n units, the share is
    T[i, j] = <A_W unit i, B_W unit j> with B_W's other permuted axis (if any) gathered
    by its current permutation. When that neighbour moved only k of its m units, the
    share changes by a rank-k product, which costs k/m of recomputing it.
    """

    def __init__(self, spec: PermutationSpec, a64: StateDict, b64: StateDict):
        self.spec, self.a64, self.b64 = spec, a64, b64
        self.perm_axes = spec.perm_axes
        self.cache: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor | None]] = {}

    def cost(self, p: str, perms: Permutations) -> torch.Tensor:
        shares = [self._term(key, axis, perms, p) for key, axis in self.perm_axes[p] if key in self.a64]
        if len(shares) == 1:
            return shares[0]
        total = shares[0] + shares[1]  # one new tensor: the cached shares stay untouched
        for share in shares[2:]:
            total.add_(share)
        return total

    def _term(self, key: str, axis: int, perms: Permutations, p: str) -> torch.Tensor:
        axes = self.spec.axes[key]
        others = [(i, q) for i, q in enumerate(axes) if q is not None and i != axis]
        if len(others) > 1 or any(isinstance(q, Joined) for q in axes):  # rare: recompute rather than track
            return self._full(key, axis, perms, p)
        other_axis, q = others[0] if others else (None, None)
        cached = self.cache.get((key, axis))
        if cached is None:
            term = self._full(key, axis, perms)
        elif q is None:
            term = cached[0]
        else:
            term, old_perm = cached
            moved = (old_perm != perms[q]).nonzero().flatten()
            if len(moved) * 4 > len(old_perm):
                term = self._full(key, axis, perms)
            elif len(moved):
                term = term + self._delta(key, axis, other_axis, moved, old_perm, perms[q])
        self.cache[(key, axis)] = (term, perms[q].clone() if q is not None else None)
        return term

    def _full(self, key: str, axis: int, perms: Permutations, p: str | None = None) -> torch.Tensor:
        entry = self.spec.axes[key][axis]
        w_b = permute_tensor(self.b64[key], self.spec.axes[key], perms, skip_axis=axis)
        if isinstance(entry, Joined):  # only the entries p's units own along this axis
            return entry.rows(self.a64[key], axis, p) @ entry.rows(w_b, axis, p).T  # (n, n)
        n = self.a64[key].shape[axis]
        w_a = self.a64[key].movedim(axis, 0).reshape(n, -1)  # (n, rest)
        return w_a @ w_b.movedim(axis, 0).reshape(n, -1).T  # (n, n)

    def _delta(self, key, axis, other_axis, moved, old_perm, new_perm) -> torch.Tensor:
        """T_new - T_old when the other axis's permutation changed at positions `moved`."""
        n = self.a64[key].shape[axis]
        a = self.a64[key].index_select(other_axis, moved)  # only the moved slices
        b_new = self.b64[key].index_select(other_axis, new_perm[moved])
        b_old = self.b64[key].index_select(other_axis, old_perm[moved])
        return _rows(a, axis, n) @ (_rows(b_new, axis, n) - _rows(b_old, axis, n)).T


def _rows(w: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    return w.movedim(axis, 0).reshape(n, -1)  # (n, everything else)


def _objective(spec, perms, a64, b64) -> float:
    total = 0.0
    for key, axes in spec.axes.items():
        if key in a64 and any(p is not None for p in axes):
            total += float((a64[key] * permute_tensor(b64[key], axes, perms)).sum())
    return total


# -- activation matching -------------------------------------------------------------------

@torch.no_grad()
def activation_matching(spec: PermutationSpec, model_a: nn.Module, model_b: nn.Module, x: torch.Tensor,
                        batch_size: int = 1024, should_stop: StopCheck | None = None) -> MatchResult:
    """Match each permutation's units by the correlation of their activations on `x`.

    One assignment per permutation, on the sum of correlation matrices over everything
    observed of its units: the post-ReLU activations (as in Ainsworth et al.) and, where
    the ReLU is applied to a module output, the pre-activations too. The latter keep
    units that never fire on `x` identifiable instead of tying them at zero. Stream
    permutations observed at several points (ResNet, a transformer's residual stream) add
    up every point. Attention heads (a block group) are matched whole: queries and keys
    on the query and key projections' outputs, values on the heads' outputs before the
    output projection, the two summed per pair of heads to choose the head map.
    """
    start = time.perf_counter()
    moments: dict[tuple, CrossMoments] = {}
    with ActivationCapture(model_a, spec) as acts_a, ActivationCapture(model_b, spec) as acts_b:
        for i in range(0, len(x), batch_size):
            check_stop(should_stop)
            acts_a.clear(), acts_b.clear()
            model_a(x[i:i + batch_size]), model_b(x[i:i + batch_size])
            for key in acts_a:
                moments.setdefault(key, CrossMoments()).add(acts_a[key], acts_b[key])
    scores = {p: sum(m.correlation() for key, m in moments.items() if key[0] == p).cpu() for p in spec.activations}
    perms = assign_all(spec, scores)  # (n, n) each; a block group's heads by their summed per-head blocks
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
                hook = self._hook((perm, index), point)
                self._handles.append(modules[point.module].register_forward_hook(hook))
        self._was_training = self.model.training
        self.model.eval()
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self.model.train(self._was_training)

    def _hook(self, key: tuple, point: ActivationPoint):
        def hook(module, inputs, output):
            n = output.shape[point.channel_axis]
            units = output.movedim(point.channel_axis, -1).reshape(-1, n)  # (samples, units)
            if point.relu:
                self[key + ("pre",)] = units
                self[key + ("post",)] = torch.relu(units)
            else:
                self[key + ("post",)] = units
        return hook
