"""Matching that respects attention heads: brute-force oracles and planted permutations."""

import itertools

import numpy as np
import pytest
import torch

from lmctui.configs import ModelConfig, STEOptions
from lmctui.core.assignment import block_assignment
from lmctui.core.consistency import universe_alignment
from lmctui.core.matching import activation_matching, weight_matching, weight_objective
from lmctui.core.models import build_model
from lmctui.core.permutation import (BlockGroup, PermutationSpec, apply_permutation, blocked_perm, check_blocks,
                                     random_perms, spec_for)
from lmctui.core.ste import ste_matching
from test_transformers import inputs, random_float64_net


@pytest.mark.parametrize("n_blocks, size, members", [(2, 2, 2), (3, 2, 2), (2, 3, 1), (3, 2, 3)])
def test_block_assignment_is_the_brute_force_optimum(n_blocks, size, members):
    rng = np.random.default_rng(n_blocks * 10 + size)
    n = n_blocks * size
    for _ in range(5):
        costs = [rng.normal(size=(n, n)) for _ in range(members)]
        found = block_assignment(costs, n_blocks)
        value = sum(c[np.arange(n), f].sum() for c, f in zip(costs, found))
        best = max(sum(c[np.arange(n), blocked_perm(bm, ins).numpy()].sum() for c, ins in zip(costs, insides))
                   for bm, insides in _joint(n_blocks, size, members))
        assert value == pytest.approx(best, abs=1e-9)
        for f in found:
            assert sorted(f.tolist()) == list(range(n))
            assert ((f // size).reshape(n_blocks, size) == (f // size).reshape(n_blocks, size)[:, :1]).all()


def _joint(n_blocks, size, members):
    """Every (block map, each member's insides): the valid points of the whole group."""
    inner = [torch.tensor(p) for p in itertools.permutations(range(size))]
    for block_map in itertools.permutations(range(n_blocks)):
        for choice in itertools.product(itertools.product(inner, repeat=n_blocks), repeat=members):
            yield torch.tensor(block_map), [list(c) for c in choice]


def tiny_head_spec(n_blocks=2, size=2):
    """One attention layer's heads alone: q/k rows under P_qk, the output's columns under P_vo."""
    n = n_blocks * size
    axes = {"q.weight": ("P_qk", None), "k.weight": ("P_qk", None), "o.weight": (None, "P_vo")}
    state = lambda g: {"q.weight": torch.randn(n, 3, generator=g), "k.weight": torch.randn(n, 3, generator=g),
                       "o.weight": torch.randn(3, n, generator=g)}
    return PermutationSpec(axes, blocks={"heads": BlockGroup(("P_qk", "P_vo"), n_blocks)}), state


@pytest.mark.parametrize("n_blocks, size", [(2, 2), (3, 2), (2, 3)])
def test_weight_matching_finds_the_best_valid_head_permutation(n_blocks, size):
    spec, state = tiny_head_spec(n_blocks, size)
    g = torch.Generator().manual_seed(n_blocks + size)
    for _ in range(3):
        a, b = state(g), state(g)
        found = weight_matching(spec, a, b).perms
        check_blocks(spec, found)
        best = max(weight_objective(spec, {"P_qk": blocked_perm(bm, ins[0]), "P_vo": blocked_perm(bm, ins[1])}, a, b)
                   for bm, ins in _joint(n_blocks, size, 2))
        assert weight_objective(spec, found, a, b) == pytest.approx(best, rel=1e-12)


CONFIGS = [ModelConfig("vit", 1, 2, "none", (1, 8, 8), 10, heads=4),
           ModelConfig("gpt", 1, 2, "none", (3,), 11, heads=8)]


def planted(config, seed=0):
    """(A, B = a random valid permutation of A, the permutation)."""
    model = random_float64_net(config, seed)
    spec = spec_for(config)
    perms = random_perms(spec, model.state_dict(), torch.Generator().manual_seed(seed + 1))
    return model, spec, apply_permutation(spec, perms, model.state_dict())


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.arch)
def test_weight_matching_recovers_a_planted_permutation(config):
    model, spec, state_b = planted(config)
    state_a = model.state_dict()
    result = weight_matching(spec, state_a, state_b, restarts=2)
    check_blocks(spec, result.perms)
    aligned = apply_permutation(spec, result.perms, state_b)
    for key in state_a:
        torch.testing.assert_close(aligned[key], state_a[key], rtol=0, atol=0)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.arch)
def test_activation_matching_recovers_a_planted_permutation(config):
    model, spec, state_b = planted(config)
    twin = build_model(config).double()
    twin.load_state_dict(state_b)
    result = activation_matching(spec, model, twin.eval(), inputs(config, n=64))
    check_blocks(spec, result.perms)
    aligned = apply_permutation(spec, result.perms, state_b)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(aligned[key], value, rtol=0, atol=0)


def test_matched_independent_transformers_keep_their_function_and_their_heads_whole():
    config = CONFIGS[0]
    a, b = random_float64_net(config, 0), random_float64_net(config, 7)
    spec = spec_for(config)
    result = weight_matching(spec, a.state_dict(), b.state_dict(), restarts=3)
    check_blocks(spec, result.perms)
    assert len(result.restart_objectives) == 3
    identity = {p: torch.arange(len(v)) for p, v in result.perms.items()}
    assert result.objective[-1] > weight_objective(spec, identity, a.state_dict(), b.state_dict())
    twin = build_model(config).double()
    twin.load_state_dict(apply_permutation(spec, result.perms, b.state_dict()))
    x = inputs(config)
    torch.testing.assert_close(twin.eval()(x), b(x), rtol=0, atol=1e-10)


def test_ste_and_the_shared_frame_give_valid_head_permutations():
    config = ModelConfig("gpt", 1, 1, "none", (3,), 11, heads=4)
    states = [{k: v.float() for k, v in random_float64_net(config, s).state_dict().items()} for s in range(3)]
    spec = spec_for(config)
    x, y = inputs(config, n=64), torch.randint(0, 11, (64,), generator=torch.Generator().manual_seed(3))
    found = ste_matching(config, spec, states[0], states[1], x, y, STEOptions(steps=5, batch_size=32))
    check_blocks(spec, found.perms)
    frame = universe_alignment(spec, states, steps=3)
    for perms in frame.perms:
        check_blocks(spec, perms)
