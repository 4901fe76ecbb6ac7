import itertools

import pytest
import torch

from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.evaluation import evaluate
from lmctui.core.matching import weight_matching
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import apply_permutation, identity_perms, invert, random_perms, spec_for
from lmctui.core.ste import STEOptions, ste_matching
from lmctui.core.training import TrainConfig, train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def blobs():
    return load_dataset(DataConfig("blobs", n_samples=400))


def trained(config, data, seed):
    return train(config, TrainConfig(epochs=6, init_seed=seed, data_seed=seed), data, CPU).state_dict


def oracle_midpoint_loss(config, spec, a, b, perms, data):
    """Plain PyTorch: load 0.5 (A + P(B)) into a module and evaluate it."""
    moved = apply_permutation(spec, perms, b)
    model = build_model(config)
    model.load_state_dict({k: 0.5 * (a[k] + moved[k]) for k in a})
    return evaluate(model, data.x_train, data.y_train)[0]


def all_perms(spec, state):
    sizes = spec.perm_sizes(state)
    for choice in itertools.product(*(itertools.permutations(range(sizes[p])) for p in sorted(sizes))):
        yield {p: torch.tensor(c) for p, c in zip(sorted(sizes), choice)}


@pytest.mark.parametrize("seeds", [(0, 1), (2, 3)])
def test_ste_picks_a_permutation_no_worse_than_identity_or_weight_matching(blobs, seeds):
    config = ModelConfig("mlp", 3, 2, "none", blobs.input_shape, blobs.num_classes)  # 3! x 3! = 36 permutations
    spec = spec_for(config)
    a, b = (trained(config, blobs, s) for s in seeds)
    brute = {tuple(tuple(v.tolist()) for v in p.values()): oracle_midpoint_loss(config, spec, a, b, p, blobs)
             for p in all_perms(spec, a)}
    seen = []
    result = ste_matching(config, spec, a, b, blobs.x_train, blobs.y_train,
                          STEOptions(steps=40, batch_size=64, lr=1e-2, eval_samples=10_000),
                          on_step=lambda *args: seen.append(args))
    chosen = tuple(tuple(result.perms[p].tolist()) for p in sorted(result.perms))
    assert chosen in brute
    assert result.midpoint_loss == pytest.approx(brute[chosen], rel=1e-5)
    identity = tuple(tuple(v.tolist()) for v in identity_perms(spec, a).values())
    assert result.identity_loss == pytest.approx(brute[identity], rel=1e-5)
    assert result.midpoint_loss <= brute[identity] + 1e-6
    matched = weight_matching(spec, a, b).perms
    assert result.first_loss == pytest.approx(oracle_midpoint_loss(config, spec, a, b, matched, blobs), rel=1e-5)
    assert result.midpoint_loss <= result.first_loss + 1e-6
    assert result.midpoint_loss >= min(brute.values()) - 1e-6
    assert [s[:2] for s in seen] == [(i, 40) for i in range(1, 41)] and len(result.step_losses) == 40


def test_ste_recovers_a_planted_permutation(blobs):
    config = ModelConfig("mlp", 6, 2, "none", blobs.input_shape, blobs.num_classes)
    spec = spec_for(config)
    a = trained(config, blobs, 0)
    shuffle = random_perms(spec, a, torch.Generator().manual_seed(3))
    b = apply_permutation(spec, shuffle, a)
    oracle = oracle_midpoint_loss(config, spec, a, b, invert(shuffle), blobs)  # the midpoint is A itself
    result = ste_matching(config, spec, a, b, blobs.x_train, blobs.y_train,
                          STEOptions(steps=20, batch_size=64, lr=1e-2, eval_samples=10_000))
    assert result.midpoint_loss == pytest.approx(oracle, rel=1e-5)
    assert result.midpoint_loss < result.identity_loss
    assert oracle_midpoint_loss(config, spec, a, b, result.perms, blobs) == pytest.approx(oracle, rel=1e-5)


def test_ste_is_seeded_and_stops_when_asked(blobs):
    config = ModelConfig("mlp", 4, 2, "none", blobs.input_shape, blobs.num_classes)
    spec = spec_for(config)
    a, b = trained(config, blobs, 0), trained(config, blobs, 1)
    options = STEOptions(steps=10, batch_size=32, lr=1e-2, seed=4)
    runs = [ste_matching(config, spec, a, b, blobs.x_train, blobs.y_train, options) for _ in range(2)]
    assert runs[0].step_losses == runs[1].step_losses
    stopped = ste_matching(config, spec, a, b, blobs.x_train, blobs.y_train, options, should_stop=lambda: True)
    assert stopped.step_losses == () and stopped.best_step in (-1, 0)
    with pytest.raises(ValueError, match="steps"):
        STEOptions(steps=0).validate()


def test_ste_runs_on_a_batchnorm_cnn():
    config = ModelConfig("vgg", 1, 0, "batch", (1, 8, 8), 10)
    spec = spec_for(config)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 8, 8, generator=generator), torch.randint(0, 10, (64,), generator=generator)
    a = build_model(config, torch.Generator().manual_seed(1)).state_dict()
    b = build_model(config, torch.Generator().manual_seed(2)).state_dict()
    before = {k: v.clone() for k, v in b.items()}
    result = ste_matching(config, spec, a, b, x, y, STEOptions(steps=3, batch_size=16))
    assert result.midpoint_loss <= result.identity_loss and len(result.step_losses) == 3
    assert all(torch.equal(before[k], b[k]) for k in b), "the inputs are left untouched"


def test_ste_starts_from_the_best_of_its_restarts(blobs):
    """The first projection is weight matching with the seed and restart count asked for."""
    config = ModelConfig("mlp", 12, 3, "none", blobs.input_shape, blobs.num_classes)
    spec = spec_for(config)
    a = build_model(config, torch.Generator().manual_seed(5)).state_dict()
    b = build_model(config, torch.Generator().manual_seed(6)).state_dict()
    options = STEOptions(steps=2, batch_size=64, seed=3, eval_samples=10_000)
    result = ste_matching(config, spec, a, b, blobs.x_train, blobs.y_train, options, restarts=4)
    singles = [weight_matching(spec, a, b, seed=3 + r).objective[-1] for r in range(4)]
    assert len(set(singles)) > 1, "the visiting orders must reach different optima for this to test anything"
    assert list(result.start_objectives) == pytest.approx(singles, rel=1e-12)
    assert result.start_restart == max(range(4), key=lambda r: (singles[r], -r))
    best = weight_matching(spec, a, b, seed=3, restarts=4).perms
    assert all(torch.equal(result.start[p], best[p]) for p in best)
    assert result.first_loss == pytest.approx(oracle_midpoint_loss(config, spec, a, b, best, blobs), rel=1e-5)
