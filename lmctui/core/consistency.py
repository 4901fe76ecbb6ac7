"""Many networks at once: cycle consistency of pairwise maps, and one shared frame for all.

Pairwise maps: `pairwise[(i, j)]` are the permutations that bring network j into
network i's frame (`apply_permutation(spec, pairwise[(i, j)], state_j)` ~ state_i).
Maps found pair by pair need not agree: going from c to a through b can differ from
going there directly. `cycle_consistency` measures how often they agree.

`universe_alignment` puts every network into one shared frame instead (after C2M3,
Crisostomi et al. 2024), so that the map from j to i is U_i^-1 U_j: consistent around
every cycle by construction.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import torch

from lmctui.core.assignment import assign_all
from lmctui.core.matching import weight_matching
from lmctui.core.permutation import Joined, PermutationSpec, Permutations, apply_permutation, compose, identity_perms, \
    invert, permute_tensor
from lmctui.core.stopping import StopCheck, check_stop
from lmctui.core.weights import StateDict, mean_state

Pairwise = dict[tuple[int, int], Permutations]


def pairwise_weight_matching(spec: PermutationSpec, states: list[StateDict], seed: int = 0,
                             restarts: int = 1, should_stop: StopCheck | None = None) -> Pairwise:
    """Weight matching for every pair i < j: the maps that bring j into i's frame."""
    return {(i, j): weight_matching(spec, states[i], states[j], seed=seed, restarts=restarts,
                                    should_stop=should_stop).perms
            for i, j in itertools.combinations(range(len(states)), 2)}


def pair_map(pairwise: Pairwise, i: int, j: int) -> Permutations:
    """The map bringing j into i's frame, from (i, j) or by inverting (j, i)."""
    return pairwise[(i, j)] if (i, j) in pairwise else invert(pairwise[(j, i)])


def composed_map(pairwise: Pairwise, a: int, b: int, c: int) -> Permutations:
    """c into a's frame through b: first c into b's frame, then b into a's."""
    return compose(pair_map(pairwise, a, b), pair_map(pairwise, b, c))


@dataclass(frozen=True)
class CycleConsistency:
    overall: float  # of all units of all triangles, the fraction the direct and composed maps agree on
    per_group: dict[str, float]  # the same, per permutation group
    per_triangle: dict[tuple[int, int, int], float]  # (a, b, c), a < b < c: P_ac against P_ab P_bc
    triangles: int

    def to_dict(self) -> dict:
        return {"overall": self.overall, "per_group": dict(self.per_group), "triangles": self.triangles,
                "per_triangle": [{"networks": list(t), "consistent": v} for t, v in self.per_triangle.items()]}


def cycle_consistency(pairwise: Pairwise, count: int) -> CycleConsistency:
    """Around every triangle a < b < c of `count` networks, compare P_ac with P_ab composed with P_bc."""
    if count < 3:
        raise ValueError(f"cycle consistency needs at least 3 networks, got {count}")
    agree: dict[str, int] = {}
    units: dict[str, int] = {}
    per_triangle = {}
    for a, b, c in itertools.combinations(range(count), 3):
        direct, through = pair_map(pairwise, a, c), composed_map(pairwise, a, b, c)
        same = {p: int((direct[p] == through[p]).sum()) for p in direct}
        for p, n in same.items():
            agree[p] = agree.get(p, 0) + n
            units[p] = units.get(p, 0) + len(direct[p])
        per_triangle[(a, b, c)] = sum(same.values()) / sum(len(v) for v in direct.values())
    per_group = {p: agree[p] / units[p] for p in sorted(units)}
    return CycleConsistency(sum(agree.values()) / sum(units.values()), per_group, per_triangle, len(per_triangle))


# -- one shared frame --------------------------------------------------------------------------

FRANK_WOLFE_STEPS = 30
LINE_SEARCH = torch.linspace(0, 1, 6, dtype=torch.float64)  # step sizes tried along each Frank-Wolfe direction


@dataclass(frozen=True)
class UniverseAlignment:
    perms: tuple[Permutations, ...]  # perms[i] brings network i into the shared frame (network 0's)
    objective: float  # sum over pairs i < j of <U_i(W_i), U_j(W_j)>, weights as weight matching compares them
    start_objective: float  # the same for the star alignment it starts from (each network matched to 0)
    frank_wolfe_steps: int  # Frank-Wolfe steps taken on the relaxed problem
    rounds: int  # rounds of best responses after it
    seconds: float

    def pairwise(self, i: int, j: int) -> Permutations:
        """The map bringing j into i's frame through the shared one: U_i^-1 U_j."""
        return frame_map(list(self.perms), i, j)

    def all_pairwise(self) -> Pairwise:
        return {(i, j): self.pairwise(i, j) for i, j in itertools.combinations(range(len(self.perms)), 2)}

    def aligned(self, spec: PermutationSpec, states: list[StateDict]) -> list[StateDict]:
        return [apply_permutation(spec, p, s) for p, s in zip(self.perms, states)]


def universe_alignment(spec: PermutationSpec, states: list[StateDict], seed: int = 0, restarts: int = 1,
                       steps: int = FRANK_WOLFE_STEPS, max_rounds: int = 50,
                       should_stop: StopCheck | None = None) -> UniverseAlignment:
    """Every network into one shared frame, maximizing the sum of all pairwise <U_i(W_i), U_j(W_j)>.

    1. Star start: each network weight-matched to network 0 (`restarts` visiting orders).
    2. Frank-Wolfe on the relaxation (C2M3): each U_i becomes a doubly stochastic
       matrix; each step solves one assignment per (network, group) on the gradient and
       moves along it by the best step on a grid; then each matrix is projected back to
       a permutation. Kept only if it beats the star start.
    3. Best responses: with the others fixed, the objective is <U_i(W_i), sum of the
       others>, which weight matching maximizes exactly; repeated (networks in a seeded
       order) until no network moves. This is MergeMany's step, so the result is at
       least a MergeMany fixed point, and never below the star start.
    The shared frame is then renamed to network 0's (U_0 = identity). `should_stop` is asked
    between the steps of all three (`Cancelled`).
    """
    start = time.perf_counter()
    k = len(states)
    if k < 2:
        raise ValueError(f"a shared frame needs at least 2 networks, got {k}")
    keys = spec.matched_keys
    weights = [{key: s[key].detach().to("cpu", torch.float64) for key in keys} for s in states]
    star = [identity_perms(spec, states[0])] + [
        weight_matching(spec, states[0], s, seed=seed, restarts=restarts, should_stop=should_stop).perms
        for s in states[1:]]
    start_objective = _hard_objective(spec, weights, star)
    relaxed, fw_steps = _frank_wolfe(spec, weights, star, steps, should_stop)
    projected = [assign_all(spec, {p: m.numpy() for p, m in mats.items()}) for mats in relaxed]
    perms = projected if _hard_objective(spec, weights, projected) > start_objective else star
    perms, rounds = best_responses(spec, states, perms, seed, max_rounds, should_stop)
    anchor = invert(perms[0])
    perms = [compose(anchor, p) for p in perms]
    return UniverseAlignment(tuple(perms), _hard_objective(spec, weights, perms), start_objective, fw_steps, rounds,
                             time.perf_counter() - start)


def _hard_objective(spec, weights: list[StateDict], perms: list[Permutations]) -> float:
    moved = [{key: permute_tensor(w[key], spec.axes[key], p) for key in w} for w, p in zip(weights, perms)]
    return _pair_sum(moved)


def _pair_sum(moved: list[StateDict]) -> float:
    """sum over i < j of <T_i, T_j> = (|sum_i T_i|^2 - sum_i |T_i|^2) / 2."""
    return float(_stacked_pair_sum({key: torch.stack([m[key] for m in moved]) for key in moved[0]}))


def _soft_moved(spec, stacked: StateDict, mats: dict[str, torch.Tensor]) -> StateDict:
    """Every network's weight with each permuted axis multiplied by its matrix, all networks at once.

    stacked[key]: (K, ...) one weight of every network; mats[p]: (K, n, n), row u of
    network i's matrix mixes the source units that become shared unit u.
    """
    moved = {}
    for key, value in stacked.items():
        for axis, p in enumerate(spec.axes[key], start=1):
            if p is not None:
                rows = value.movedim(axis, 1)  # (K, n, ...)
                mat = _joined_matrix(p, mats) if isinstance(p, Joined) else mats[p]
                mixed = torch.bmm(mat, rows.reshape(*rows.shape[:2], -1)).reshape(rows.shape)
                value = mixed.movedim(1, axis)
        moved[key] = value
    return moved


def _joined_matrix(entry: Joined, mats: dict[str, torch.Tensor]) -> torch.Tensor:
    """(K, L, L): each part's matrix on its own block of the axis, blown up to its entries per unit."""
    some = next(iter(mats.values()))  # (K, n, n)
    blocks = [torch.kron(mats[p], torch.eye(repeat, dtype=some.dtype)) if p is not None
              else torch.eye(units * repeat, dtype=some.dtype).expand(len(some), -1, -1)
              for p, units, repeat in entry.parts]
    return torch.stack([torch.block_diag(*(b[i] for b in blocks)) for i in range(len(some))])


def _stacked_pair_sum(moved: StateDict) -> torch.Tensor:
    """sum over i < j of <T_i, T_j> for weights stacked on a leading network axis."""
    return sum(0.5 * (v.sum(0).square().sum() - v.square().sum()) for v in moved.values())


def _frank_wolfe(spec, weights: list[StateDict], perms: list[Permutations], steps: int,
                 should_stop: StopCheck | None = None) -> tuple[list[dict], int]:
    stacked = {key: torch.stack([w[key] for w in weights]) for key in weights[0]}  # key -> (K, ...)
    eye = {p: torch.eye(len(v), dtype=torch.float64) for p, v in perms[0].items()}
    mats = {p: torch.stack([eye[p][pm[p]] for pm in perms]) for p in eye}  # (K, n, n), one-hot rows
    taken = 0
    for _ in range(steps):
        check_stop(should_stop)
        leaves = {p: m.clone().requires_grad_() for p, m in mats.items()}
        grads = torch.autograd.grad(_stacked_pair_sum(_soft_moved(spec, stacked, leaves)), list(leaves.values()))
        grads = dict(zip(mats, grads))
        vertices = [assign_all(spec, {p: g[i].numpy() for p, g in grads.items()}) for i in range(len(weights))]
        direction = {p: torch.stack([eye[p][v[p]] for v in vertices]) - m  # towards each network's best vertex
                     for p, m in mats.items()}
        with torch.no_grad():
            tried = [float(_stacked_pair_sum(_soft_moved(spec, stacked, _step(mats, direction, g))))
                     for g in LINE_SEARCH]
        best = int(np.argmax(tried))
        if best == 0 or tried[best] <= tried[0] + 1e-12 * abs(tried[0]):
            break
        mats, taken = _step(mats, direction, float(LINE_SEARCH[best])), taken + 1
    return [{p: m[i] for p, m in mats.items()} for i in range(len(weights))], taken


def _step(mats, direction, gamma):
    return {p: m + gamma * direction[p] for p, m in mats.items()}


def best_responses(spec: PermutationSpec, states: list[StateDict], perms: list[Permutations], seed: int = 0,
                   max_rounds: int = 50, should_stop: StopCheck | None = None) -> tuple[list[Permutations], int]:
    """MergeMany's loop (Ainsworth et al. 2022, Algorithm 3), from `perms`: each network in turn
    (a seeded order each round) weight-matched to the mean of the others as they stand, until a
    round moves none or `max_rounds` pass. Returns (the permutations, the rounds taken).

    With the others fixed, matching network i to their mean maximizes the sum of its inner
    products with them, so every move raises the shared frame's objective. Both MergeMany
    (`core.averaging.merge_many`, from the identity) and the shared frame (from its start) use it.
    """
    perms = list(perms)
    rng = np.random.default_rng(seed)
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        changed = False
        for i in rng.permutation(len(states)):
            check_stop(should_stop)
            others = mean_state([apply_permutation(spec, perms[j], states[j]) for j in range(len(states)) if j != i])
            found = weight_matching(spec, others, states[i], seed=seed, init=perms[i]).perms
            if any(not torch.equal(found[p], perms[i][p]) for p in found):
                perms[i], changed = found, True
        if not changed:
            break
    return perms, rounds


def frame_objective(spec: PermutationSpec, states: list[StateDict], perms: list[Permutations]) -> float:
    """The objective of any shared frame (`perms[i]` brings network i into it): the sum over pairs
    i < j of <U_i(W_i), U_j(W_j)>, weights as weight matching compares them."""
    keys = spec.matched_keys
    weights = [{key: s[key].detach().to("cpu", torch.float64) for key in keys} for s in states]
    return _hard_objective(spec, weights, [{p: v.cpu() for p, v in perm.items()} for perm in perms])


def frame_map(perms: list[Permutations], i: int, j: int) -> Permutations:
    """The map bringing network j into network i's frame through a shared frame: U_i^-1 U_j."""
    return compose(invert(perms[i]), perms[j])
