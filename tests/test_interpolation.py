import pytest
import torch

from lmctui.core.calibration import channel_stats, recalibrate, repair_modules
from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.evaluation import evaluate
from lmctui.core.interpolation import InterpolationOptions, alpha_grid, barrier, interpolate, lerp_state
from lmctui.core.matching import weight_matching
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import apply_permutation, random_perms, spec_for
from lmctui.core.training import TrainConfig, train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig("digits"))


@pytest.fixture(scope="module")
def trained_pair(digits):
    config = ModelConfig("mlp", 32, 2, "none", digits.input_shape, digits.num_classes)
    states = [train(config, TrainConfig(epochs=8, init_seed=s, data_seed=s), digits, CPU).state_dict for s in (0, 1)]
    return config, states


def as_model(config, state):
    model = build_model(config)
    model.load_state_dict(state)
    return model.eval()


def test_barrier_is_the_height_above_the_chord():
    assert barrier([0, 0.5, 1], [1.0, 3.0, 1.0]) == pytest.approx(2.0)
    assert barrier([0, 0.5, 1], [0.0, 2.0, 2.0]) == pytest.approx(1.0)
    assert barrier([0, 0.25, 0.5, 0.75, 1], [0, 0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.0)
    assert barrier([0, 0.5, 1], [1.0, 0.0, 1.0]) == pytest.approx(0.0)  # the endpoints bound it below
    assert alpha_grid(25)[12] == 0.5 and alpha_grid(25)[0] == 0 and alpha_grid(25)[-1] == 1


def test_lerp_at_zero_and_one_gives_the_endpoints(trained_pair):
    _, (a, b) = trained_pair
    assert all(torch.equal(lerp_state(a, b, 0.0)[k], a[k]) for k in a)
    assert all(torch.equal(lerp_state(a, b, 1.0)[k], b[k]) for k in a)
    mid = lerp_state(a, b, 0.5)
    torch.testing.assert_close(mid["out.weight"], (a["out.weight"] + b["out.weight"]) / 2)


def test_curve_endpoints_equal_the_networks_evaluated_alone(trained_pair, digits):
    config, (a, b) = trained_pair
    curve = interpolate(config, a, b, digits, InterpolationOptions(points=5))
    assert curve.alpha == [0, 0.25, 0.5, 0.75, 1]
    for index, state in ((0, a), (-1, b)):
        loss, acc = evaluate(as_model(config, state), digits.x_test, digits.y_test)
        assert curve.test_loss[index] == pytest.approx(loss, rel=1e-6)
        assert curve.test_acc[index] == pytest.approx(acc)
    summary = curve.summary()
    assert summary["loss_barrier_test"] == pytest.approx(barrier(curve.alpha, curve.test_loss))
    assert summary["mid_loss_test"] == curve.test_loss[2]


def test_planted_permutation_has_a_barrier_only_before_alignment(trained_pair, digits):
    config, (a, _) = trained_pair
    spec = spec_for(config)
    shuffled = apply_permutation(spec, random_perms(spec, a, torch.Generator().manual_seed(0)), a)
    naive = interpolate(config, a, shuffled, digits, InterpolationOptions(points=5)).summary()
    realigned = apply_permutation(spec, weight_matching(spec, a, shuffled).perms, shuffled)
    aligned = interpolate(config, a, realigned, digits, InterpolationOptions(points=5)).summary()
    assert naive["loss_barrier_test"] > 0.5
    assert aligned["loss_barrier_test"] == pytest.approx(0.0, abs=1e-6)


def test_batchnorm_reset_measures_the_first_layer_exactly(digits):
    config = ModelConfig("vgg", 1, 0, "batch", digits.input_shape, digits.num_classes)
    model = build_model(config, torch.Generator().manual_seed(0))
    x = digits.x_train[:300]
    recalibrate(model, x)
    conv_out = model.convs[0](x)  # (N, C, H, W): the first BatchNorm's input
    torch.testing.assert_close(model.norms[0].running_mean, conv_out.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert not model.training


def test_batchnorm_reset_changes_the_curve_of_a_bn_network(digits):
    config = ModelConfig("vgg", 1, 0, "batch", digits.input_shape, digits.num_classes)
    states = [train(config, TrainConfig(epochs=1, init_seed=s, data_seed=s), digits, CPU).state_dict for s in (0, 1)]
    on = interpolate(config, *states, digits, InterpolationOptions(points=3, reset_bn=True))
    off = interpolate(config, *states, digits, InterpolationOptions(points=3, reset_bn=False))
    assert on.test_loss[1] != pytest.approx(off.test_loss[1], rel=1e-3)


def test_repair_sets_each_unit_to_its_target_statistics(trained_pair, digits):
    config, (a, b) = trained_pair
    x = digits.x_train[:1000]  # one calibration batch: batch and data statistics coincide
    names = repair_modules(config)
    model = as_model(config, lerp_state(a, b, 0.5))
    targets = {n: (torch.linspace(-1, 1, 32), torch.linspace(0.5, 2, 32)) for n in names}
    handles = recalibrate(model, x, repair_targets=targets)
    measured = channel_stats(model, names, x)
    for n in names:
        torch.testing.assert_close(measured[n][0].float(), targets[n][0], rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(measured[n][1].float(), targets[n][1], rtol=1e-3, atol=1e-3)
    for h in handles:
        h.remove()


def test_repair_leaves_the_endpoints_alone_and_lowers_the_naive_barrier(trained_pair, digits):
    config, (a, b) = trained_pair
    plain = interpolate(config, a, b, digits, InterpolationOptions(points=5))
    repaired = interpolate(config, a, b, digits, InterpolationOptions(points=5, repair=True))
    assert repaired.test_loss[0] == pytest.approx(plain.test_loss[0], rel=1e-3)
    assert repaired.test_loss[-1] == pytest.approx(plain.test_loss[-1], rel=1e-3)
    assert repaired.summary()["loss_barrier_test"] < plain.summary()["loss_barrier_test"]


@pytest.mark.parametrize("config", [
    ModelConfig("mlp", 16, 2, "none", (1, 8, 8), 10),
    ModelConfig("mlp", 16, 1, "none", (1, 8, 8), 10),
    ModelConfig("mlp", 8, 3, "none", (1, 8, 8), 10),
    ModelConfig("vgg", 1, 0, "layer", (1, 8, 8), 10),
    ModelConfig("resnet20", 1, 0, "none", (1, 8, 8), 10),
], ids=["mlp", "mlp-depth-1", "mlp-depth-3", "vgg-layer", "resnet-none"])
def test_batched_curve_equals_evaluating_each_alpha_alone(digits, config):
    from lmctui.core.interpolation import _interpolate_batched, alpha_grid
    from lmctui.core.weights import lerp_states

    a = build_model(config, torch.Generator().manual_seed(0)).state_dict()
    b = build_model(config, torch.Generator().manual_seed(1)).state_dict()
    # the batched path itself: on a CPU `interpolate` batches only narrow MLPs
    curve = _interpolate_batched(config, a, b, digits, alpha_grid(7), None)
    stacked = lerp_states(a, b, curve.alpha)
    for i, alpha in enumerate(curve.alpha):
        single = lerp_state(a, b, alpha)
        assert all(torch.equal(stacked[k][i], single[k]) for k in a)
        loss, acc = evaluate(as_model(config, single), digits.x_test, digits.y_test)
        assert curve.test_loss[i] == pytest.approx(loss, rel=1e-5, abs=1e-6)
        assert curve.test_acc[i] == pytest.approx(acc)


def test_the_benchmark_reference_computes_the_same_curve(trained_pair, digits):
    """The benchmark compares like with like: its plain loop gives lmctui's numbers."""
    from lmctui.bench.references import interpolate_alpha_by_alpha

    config, (a, b) = trained_pair
    curve = interpolate(config, a, b, digits, InterpolationOptions(points=5))
    rows = interpolate_alpha_by_alpha(as_model(config, a), a, b, digits.x_train, digits.y_train,
                                      digits.x_test, digits.y_test, 5)
    for i, (train_loss, train_acc, test_loss, test_acc) in enumerate(rows):
        assert curve.train_loss[i] == pytest.approx(train_loss, rel=1e-5)
        assert curve.test_acc[i] == pytest.approx(test_acc)
