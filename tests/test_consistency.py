import itertools

import pytest
import torch

from lmctui.core.consistency import (composed_map, cycle_consistency, pair_map, pairwise_weight_matching,
                                     universe_alignment)
from lmctui.core.matching import weight_matching, weight_objective
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import apply_permutation, identity_perms, invert, random_perms, spec_for
from nets import CONFIGS, config_id, inputs, random_net

COPY_CONFIGS = [c for c in CONFIGS if (c.arch, c.depth, c.norm) in {("mlp", 3, "none"), ("resnet20", 0, "batch"),
                                                                       ("vgg", 0, "layer")}]


def permuted_copies(config, k, seed=0):
    """k networks that are one random network with its hidden units shuffled k ways."""
    base = random_net(config, seed).state_dict()
    spec = spec_for(config)
    generator = torch.Generator().manual_seed(seed + 1)
    return spec, base, [apply_permutation(spec, random_perms(spec, base, generator), base) for _ in range(k)]


@pytest.mark.parametrize("config", COPY_CONFIGS, ids=config_id)
def test_permutations_of_one_net_are_exactly_cycle_consistent(config):
    spec, _, states = permuted_copies(config, 4)
    pairwise = pairwise_weight_matching(spec, states)
    result = cycle_consistency(pairwise, 4)
    assert result.overall == 1.0 and result.triangles == 4
    assert set(result.per_group.values()) == {1.0} and set(result.per_group) == set(spec.perm_axes)


def test_consistency_counts_exactly_the_units_a_broken_map_gets_wrong():
    config = ModelConfig("mlp", 10, 2, "none", (3,), 2)
    spec, _, states = permuted_copies(config, 3)
    pairwise = pairwise_weight_matching(spec, states)
    broken = {p: v.clone() for p, v in pairwise[(0, 2)].items()}
    broken["P_hidden1"][[0, 1]] = broken["P_hidden1"][[1, 0]]  # two units swapped
    stored = {(0, 1): pairwise[(0, 1)], (1, 2): pairwise[(1, 2)], (2, 0): invert(broken)}  # given the other way
    result = cycle_consistency(stored, 3)
    assert result.per_group == {"P_hidden0": 1.0, "P_hidden1": 0.8}
    assert result.overall == pytest.approx(18 / 20) and result.per_triangle == {(0, 1, 2): pytest.approx(0.9)}
    assert all(torch.equal(pair_map(stored, 0, 2)[p], broken[p]) for p in broken)
    with pytest.raises(ValueError):
        cycle_consistency(stored, 2)


def test_composed_map_goes_through_the_middle_network():
    config = ModelConfig("mlp", 6, 2, "none", (3,), 2)
    spec, base, states = permuted_copies(config, 3)
    # one visiting order stops short of the planted map on this net (a local optimum); restarts find it
    through = composed_map(pairwise_weight_matching(spec, states, restarts=4), 0, 1, 2)
    moved = apply_permutation(spec, through, states[2])
    assert all(torch.equal(moved[k], states[0][k]) for k in moved)


def pair_sum(spec, aligned):
    """Oracle: the sum over pairs of weight matching's own objective, with no further permutation."""
    none = identity_perms(spec, aligned[0])
    return sum(weight_objective(spec, none, a, b) for a, b in itertools.combinations(aligned, 2))


@pytest.mark.parametrize("config,k", [(ModelConfig("mlp", 6, 2, "none", (4,), 3), 4),
                                      (ModelConfig("mlp", 8, 3, "none", (4,), 3), 3),
                                      (ModelConfig("vgg", 1, 0, "batch", (1, 8, 8), 10), 3)],
                         ids=["mlp-d2", "mlp-d3", "vgg-bn"])
def test_a_shared_frame_is_consistent_by_construction_and_beats_its_start(config, k):
    spec = spec_for(config)
    states = [random_net(config, 30 + i).state_dict() for i in range(k)]
    result = universe_alignment(spec, states, seed=1)
    assert all(torch.equal(v, torch.arange(len(v))) for v in result.perms[0].values())
    assert cycle_consistency(result.all_pairwise(), k).overall == 1.0
    aligned = result.aligned(spec, states)
    assert result.objective == pytest.approx(pair_sum(spec, aligned), rel=1e-9)
    assert result.objective >= result.start_objective - 1e-9
    star = [states[0]] + [apply_permutation(spec, weight_matching(spec, states[0], s, seed=1).perms, s)
                          for s in states[1:]]
    assert result.start_objective == pytest.approx(pair_sum(spec, star), rel=1e-9)
    # the pairwise map from the shared frame brings j into i's frame
    moved = apply_permutation(spec, result.pairwise(1, 2), states[2])
    assert all(torch.equal(moved[key], apply_permutation(spec, invert(result.perms[1]), aligned[2])[key])
               for key in moved)


@pytest.mark.parametrize("config", COPY_CONFIGS, ids=config_id)
def test_a_shared_frame_of_permuted_copies_makes_them_one_function(config):
    spec, _, states = permuted_copies(config, 4, seed=5)
    aligned = universe_alignment(spec, states).aligned(spec, states)
    assert all(torch.equal(a[key], states[0][key]) for a in aligned for key in a)
    x = inputs(config)
    outputs = []
    for state in aligned:
        model = build_model(config)
        model.load_state_dict(state)
        outputs.append(model.eval()(x))
    assert all(torch.equal(o, outputs[0]) for o in outputs)


def test_two_networks_in_a_shared_frame_do_at_least_as_well_as_weight_matching():
    config = ModelConfig("mlp", 7, 3, "none", (4,), 3)
    spec = spec_for(config)
    a, b = random_net(config, 1).state_dict(), random_net(config, 2).state_dict()
    result = universe_alignment(spec, [a, b], seed=3)
    assert result.objective >= weight_matching(spec, a, b, seed=3).objective[-1] - 1e-9
    with pytest.raises(ValueError):
        universe_alignment(spec, [a])
