import itertools

import pytest
import torch

from lmctui.core.matching import activation_matching, weight_matching, weight_objective
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import apply_permutation, invert, random_perms, spec_for
from nets import CONFIGS, config_id, inputs, random_net


def planted(config, seed=0):
    """A random network A and B = A with its hidden units shuffled by a known permutation."""
    a = random_net(config, seed)
    spec = spec_for(config)
    shuffle = random_perms(spec, a.state_dict(), torch.Generator().manual_seed(seed + 100))
    b = build_model(config)
    b.load_state_dict(apply_permutation(spec, shuffle, a.state_dict()))
    return spec, a, b.eval(), shuffle


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_weight_matching_recovers_a_planted_permutation(config):
    spec, a, b, shuffle = planted(config)
    result = weight_matching(spec, a.state_dict(), b.state_dict(), seed=0)
    expected = invert(shuffle)
    assert all(torch.equal(result.perms[p], expected[p]) for p in expected)
    undone = apply_permutation(spec, result.perms, b.state_dict())
    assert all(torch.equal(undone[k], v) for k, v in a.state_dict().items())


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_activation_matching_recovers_a_planted_permutation(config):
    spec, a, b, shuffle = planted(config)
    result = activation_matching(spec, a, b, inputs(config, n=256))
    expected = invert(shuffle)
    assert all(torch.equal(result.perms[p], expected[p]) for p in expected)


@pytest.mark.parametrize("width", [2, 3, 4, 5, 6])
def test_weight_matching_equals_brute_force_on_one_hidden_layer(width):
    config = ModelConfig("mlp", width, 1, "none", (3,), 4)
    spec = spec_for(config)
    a, b = random_net(config, 1).state_dict(), random_net(config, 2).state_dict()
    best = max(weight_objective(spec, {"P_hidden0": torch.tensor(p)}, a, b)
               for p in itertools.permutations(range(width)))
    result = weight_matching(spec, a, b, seed=0)
    assert weight_objective(spec, result.perms, a, b) == pytest.approx(best, rel=1e-12)
    assert result.objective[-1] == pytest.approx(best, rel=1e-12)


def test_weight_matching_objective_never_falls_and_stops_when_a_round_changes_nothing():
    config = ModelConfig("mlp", 64, 3, "none", (10,), 5)
    spec = spec_for(config)
    a, b = random_net(config, 1).state_dict(), random_net(config, 2).state_dict()
    result = weight_matching(spec, a, b, seed=3)
    start = weight_objective(spec, {p: torch.arange(64) for p in spec.perm_axes}, a, b)
    assert start < result.objective[0]
    assert all(x <= y + 1e-9 for x, y in zip(result.objective, result.objective[1:]))
    assert result.objective[-1] == pytest.approx(result.objective[-2])  # the last round changed nothing
    assert result.iterations == len(result.objective) >= 2 and result.seconds > 0
    # a permutation whose neighbours did not move is not re-solved
    assert result.solves < result.iterations * len(spec.perm_axes)
    capped = weight_matching(spec, a, b, seed=3, max_iter=1)
    assert capped.iterations == 1


def test_weight_matching_seed_only_changes_the_visiting_order():
    config = ModelConfig("mlp", 32, 2, "none", (10,), 5)
    spec = spec_for(config)
    a, b = random_net(config, 1).state_dict(), random_net(config, 2).state_dict()
    same = [weight_matching(spec, a, b, seed=s) for s in (5, 5)]
    assert all(torch.equal(same[0].perms[p], same[1].perms[p]) for p in same[0].perms)


def test_visiting_order_splits_into_runs_of_independent_permutations():
    from lmctui.core.matching import independent_runs

    chain = {"a": {"b"}, "b": {"a", "c"}, "c": {"b"}}
    assert independent_runs(["a", "c", "b"], chain) == [["a", "c"], ["b"]]
    assert independent_runs(["a", "b", "c"], chain) == [["a"], ["b"], ["c"]]
    assert independent_runs(["b", "c", "a"], chain) == [["b"], ["c", "a"]]


def test_weight_matching_agrees_with_a_plain_numpy_coordinate_descent():
    """Same visiting order, same fixpoint: the shortcuts change the time, not the answer."""
    from lmctui.bench.references import mlp_weight_matching_scipy

    config = ModelConfig("mlp", 48, 3, "none", (20,), 5)
    spec = spec_for(config)
    a, b = random_net(config, 1).state_dict(), random_net(config, 2).state_dict()
    ours = weight_matching(spec, a, b, seed=7)
    perms, objective = mlp_weight_matching_scipy(a, b, 3, seed=7)
    assert ours.objective[-1] == pytest.approx(objective, rel=1e-12)
    for i, p in enumerate(perms):
        assert ours.perms[f"P_hidden{i}"].tolist() == p.tolist()


# -- weights only, restarts -------------------------------------------------------------------

BN_CONFIGS = [c for c in CONFIGS if c.norm == "batch"]


def scrambled_statistics(state, seed):
    """The same weights with new, arbitrary BatchNorm running statistics."""
    generator = torch.Generator().manual_seed(seed)
    out = dict(state)
    for key, value in state.items():
        if key.endswith("running_mean"):
            out[key] = torch.randn(value.shape, generator=generator) * 10
        elif key.endswith("running_var"):
            out[key] = torch.rand(value.shape, generator=generator) * 100 + 0.01
        elif key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(12345)
    return out


def parameter_objective(model, perms, spec, a, b):
    """Oracle: <A, P(B)> over the model's true parameters (nn.Module.named_parameters) only."""
    moved = apply_permutation(spec, perms, b)
    names = {name for name, _ in model.named_parameters()}
    return sum(float((a[k].double() * moved[k].double()).sum()) for k in names
               if any(p is not None for p in spec.axes[k]))


@pytest.mark.parametrize("config", BN_CONFIGS, ids=config_id)
def test_running_statistics_do_not_steer_weight_matching(config):
    spec = spec_for(config)
    model_a, model_b = random_net(config, 1), random_net(config, 2)
    a, b = model_a.state_dict(), model_b.state_dict()
    plain = weight_matching(spec, a, b, seed=0)
    scrambled = weight_matching(spec, scrambled_statistics(a, 3), scrambled_statistics(b, 4), seed=0)
    assert all(torch.equal(plain.perms[p], scrambled.perms[p]) for p in plain.perms)
    assert plain.objective[-1] == pytest.approx(parameter_objective(model_a, plain.perms, spec, a, b), rel=1e-12)
    assert scrambled.objective[-1] == pytest.approx(plain.objective[-1], rel=1e-12)
    # the statistics are still permuted with their units
    moved = apply_permutation(spec, plain.perms, b)
    key = next(k for k in b if k.endswith("running_var"))
    assert torch.equal(moved[key], b[key][plain.perms[spec.axes[key][0]]])


def all_perm_combinations(spec, state):
    sizes = spec.perm_sizes(state)
    names = sorted(sizes)
    for choice in itertools.product(*(itertools.permutations(range(sizes[p])) for p in names)):
        yield {p: torch.tensor(c) for p, c in zip(names, choice)}


@pytest.mark.parametrize("depth,seed", [(2, 0), (2, 1), (3, 2), (3, 3)])
def test_restarts_keep_the_best_and_never_beat_brute_force(depth, seed):
    config = ModelConfig("mlp", 3, depth, "none", (4,), 3)
    spec = spec_for(config)
    model = random_net(config, 10 + seed)
    a, b = model.state_dict(), random_net(config, 20 + seed).state_dict()
    optimum = max(parameter_objective(model, perms, spec, a, b) for perms in all_perm_combinations(spec, a))
    result = weight_matching(spec, a, b, seed=seed, restarts=6)
    singles = [weight_matching(spec, a, b, seed=seed + r).objective[-1] for r in range(6)]
    assert result.restart_objectives == pytest.approx(singles, rel=1e-12)
    assert result.objective[-1] == max(result.restart_objectives)
    assert result.restart_objectives[result.best_restart] == result.objective[-1]
    assert all(o <= result.objective[-1] for o in result.restart_objectives)
    assert parameter_objective(model, result.perms, spec, a, b) == pytest.approx(result.objective[-1], rel=1e-12)
    assert result.objective[-1] <= optimum * (1 + 1e-12) + 1e-12


def test_one_permutation_group_every_restart_finds_the_brute_force_optimum():
    config = ModelConfig("mlp", 5, 1, "none", (3,), 4)
    spec = spec_for(config)
    model = random_net(config, 1)
    a, b = model.state_dict(), random_net(config, 2).state_dict()
    optimum = max(parameter_objective(model, perms, spec, a, b) for perms in all_perm_combinations(spec, a))
    result = weight_matching(spec, a, b, seed=0, restarts=4)
    assert result.restart_objectives == pytest.approx([optimum] * 4, rel=1e-12)


def test_restarts_must_be_positive():
    config = ModelConfig("mlp", 3, 1, "none", (3,), 2)
    spec, state = spec_for(config), random_net(config, 0).state_dict()
    with pytest.raises(ValueError, match="restarts"):
        weight_matching(spec, state, state, restarts=0)


def test_visiting_orders_can_end_in_different_local_optima():
    """Why restarts exist: on this net two of six visiting orders stop short of the best."""
    config = ModelConfig("mlp", 3, 3, "none", (4,), 3)
    spec = spec_for(config)
    result = weight_matching(spec, random_net(config, 12).state_dict(), random_net(config, 22).state_dict(),
                             seed=2, restarts=6)
    assert max(result.restart_objectives) - min(result.restart_objectives) > 0.1
