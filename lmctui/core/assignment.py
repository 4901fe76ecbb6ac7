"""Linear assignment for permutations, free or moving in whole blocks (attention heads).

A free permutation maximizes sum_i C[i, P[i]] over all permutations: one linear
assignment problem. A block group's members (see `BlockGroup`) share one block map, so
their objective sum_m sum_i C_m[i, P_m[i]] splits over pairs of blocks (I, J): if block
I goes to block J, each member's best inside is the assignment on its sub-matrix
C_m[I, J], independently of the other blocks. Summing those optima over the members
gives the blocks' cost matrix, and one assignment over blocks finishes the exact
maximum (a linear assignment over heads of inner assignments).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from lmctui.core.permutation import BlockGroup, PermutationSpec, Permutations, blocked_perm


def best_assignment(cost: np.ndarray) -> np.ndarray:
    """The permutation P maximizing sum_i cost[i, P[i]]."""
    return linear_sum_assignment(cost, maximize=True)[1]


def block_assignment(costs: list[np.ndarray], n_blocks: int) -> list[np.ndarray]:
    """The best permutations of a block group's members (one (n_m, n_m) cost matrix each)
    that move whole blocks by one shared map; returned in the members' order."""
    head_cost = np.zeros((n_blocks, n_blocks))
    inner = []  # per member: (I, J) -> the best assignment of block I's units onto block J's
    for cost in costs:
        size = len(cost) // n_blocks
        pairs = cost.reshape(n_blocks, size, n_blocks, size).transpose(0, 2, 1, 3)  # (I, J, size, size)
        found = {}
        for i in range(n_blocks):
            for j in range(n_blocks):
                cols = best_assignment(pairs[i, j])
                found[i, j] = cols
                head_cost[i, j] += pairs[i, j][np.arange(size), cols].sum()
        inner.append(found)
    block_map = best_assignment(head_cost)
    return [blocked_perm(torch.as_tensor(block_map), [torch.as_tensor(found[i, block_map[i]])
                                                      for i in range(n_blocks)]).numpy() for found in inner]


def solve_group(perms: tuple[str, ...], group: BlockGroup | None, costs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The best assignment of one coordinate: a free permutation (`group` None) or a block group."""
    if group is None:
        return {perms[0]: best_assignment(costs[0])}
    return dict(zip(perms, block_assignment(costs, group.n_blocks)))


def coordinates(spec: PermutationSpec, names: list[str]) -> dict[str, tuple[tuple[str, ...], BlockGroup | None]]:
    """What one assignment solves at once: each free permutation alone, each block group whole.

    Keyed by the permutation's or the group's name: name -> (member permutations, group or None).
    """
    grouped = spec.block_group_of()
    out = {p: ((p,), None) for p in names if p not in grouped}
    out |= {g: (group.perms, group) for g, group in spec.blocks.items()}
    return out


def assign_all(spec: PermutationSpec, costs: dict[str, torch.Tensor | np.ndarray]) -> Permutations:
    """Every permutation of `spec` from its cost matrix (maximized), block groups respected."""
    found: dict[str, np.ndarray] = {}
    for members, group in coordinates(spec, list(costs)).values():
        found |= solve_group(members, group, [np.asarray(costs[p]) for p in members])
    return {p: torch.as_tensor(v) for p, v in found.items()}
