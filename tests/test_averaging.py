import pytest
import torch
from torch.nn import functional as F

from lmctui.core.averaging import average, ensemble, merge_many
from lmctui.core.weights import mean_state
from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.evaluation import evaluate
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import apply_permutation, random_perms, spec_for
from lmctui.core.training import TrainConfig, train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup():
    data = load_dataset(DataConfig("digits"))
    config = ModelConfig("mlp", 24, 2, "none", data.input_shape, data.num_classes)
    state = train(config, TrainConfig(epochs=6), data, CPU).state_dict
    spec = spec_for(config)
    copies = [apply_permutation(spec, random_perms(spec, state, torch.Generator().manual_seed(s)), state)
              for s in range(3)]
    return data, config, state, copies


def evaluate_state(config, state, data):
    model = build_model(config)
    model.load_state_dict(state)
    return evaluate(model, data.x_test, data.y_test)


def test_mean_state_is_the_elementwise_mean():
    a, b = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(4)}, {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(9)}
    mean = mean_state([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0])) and mean["n"].item() == 4


@pytest.mark.parametrize("method", ["weight", "activation", "mergemany"])
def test_aligned_average_of_permuted_copies_is_the_original(setup, method):
    data, config, state, copies = setup
    result = average(config, copies, method, data)
    loss, acc = evaluate_state(config, state, data)
    assert result.test_acc == pytest.approx(acc)
    assert result.test_loss == pytest.approx(loss, rel=1e-5)


def test_naive_average_of_permuted_copies_is_worse(setup):
    data, config, state, copies = setup
    _, acc = evaluate_state(config, state, data)
    assert average(config, copies, "naive", data).test_acc < acc - 0.2


def test_merge_many_puts_every_copy_in_one_basis(setup):
    _, config, _, copies = setup
    aligned, rounds = merge_many(config, copies)
    assert rounds >= 1
    for other in aligned[1:]:
        assert all(torch.equal(aligned[0][k], other[k]) for k in other)


def test_ensemble_is_the_mean_of_softmaxes(setup):
    data, config, state, copies = setup
    other = train(config, TrainConfig(epochs=2, init_seed=5), data, CPU).state_dict
    loss, acc = ensemble(config, [state, other], data.x_test, data.y_test)
    probs = []
    for s in (state, other):
        model = build_model(config)
        model.load_state_dict(s)
        probs.append(F.softmax(model.eval()(data.x_test), dim=1))
    mean = (probs[0] + probs[1]) / 2
    assert acc == pytest.approx((mean.argmax(1) == data.y_test).float().mean().item())
    assert loss == pytest.approx(F.nll_loss(mean.log(), data.y_test).item(), rel=1e-5)
    # an ensemble of identical networks is that network
    single = evaluate_state(config, state, data)
    assert ensemble(config, copies, data.x_test, data.y_test) == pytest.approx(single, rel=1e-5)


def test_weight_alignment_with_restarts_matches_each_network_by_its_best_visiting_order(setup):
    from lmctui.core.averaging import align_all
    from lmctui.core.matching import weight_matching, weight_objective

    data, config, _, _ = setup
    spec = spec_for(config)
    nets = [build_model(config, torch.Generator().manual_seed(s)).state_dict() for s in range(3)]
    aligned, _ = align_all(config, nets, "weight", data, seed=2, restarts=3)
    none = {p: torch.arange(n) for p, n in spec.perm_sizes(nets[0]).items()}
    for net, moved in zip(nets[1:], aligned[1:]):
        best = max(weight_matching(spec, nets[0], net, seed=2 + r).objective[-1] for r in range(3))
        assert weight_objective(spec, none, nets[0], moved) == pytest.approx(best, rel=1e-12)


def test_repair_of_aligned_permuted_copies_changes_nothing(setup):
    """Aligned copies average to the original, whose statistics are already the target."""
    data, config, state, copies = setup
    result = average(config, copies, "weight", data, repair=True)
    loss, acc = evaluate_state(config, state, data)
    assert result.test_acc == pytest.approx(acc)
    assert result.test_loss == pytest.approx(loss, rel=1e-3)


@pytest.mark.parametrize("arch, norm", [("mlp", "none"), ("vgg", "none"), ("vgg", "batch"), ("vgg", "layer"),
                                        ("resnet20", "none"), ("resnet20", "batch")])
def test_repair_gives_every_unit_the_mean_of_the_aligned_networks_statistics(arch, norm):
    from lmctui.core.averaging import align_all
    from lmctui.core.calibration import channel_stats, repair_modules
    from lmctui.core.data import Dataset

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 8, 8, generator=generator)
    data = Dataset("noise", x[:64], torch.randint(0, 10, (64,), generator=generator), x[64:],
                   torch.randint(0, 10, (32,), generator=generator), 10)
    config = ModelConfig(arch, 2 if arch != "mlp" else 12, 2, norm, (1, 8, 8), 10)
    states = [build_model(config, torch.Generator().manual_seed(s)).state_dict() for s in (1, 2, 3)]
    result = average(config, states, "weight", data, repair=True)
    names = repair_modules(config)
    aligned, _ = align_all(config, states, "weight", data)
    endpoint = [channel_stats(load_state(config, s), names, data.x_train) for s in aligned]
    repaired = channel_stats(load_state(config, result.state), names, data.x_train)
    for name in names:
        target_mean = sum(e[name][0] for e in endpoint) / 3
        target_std = sum(e[name][1] for e in endpoint) / 3
        assert torch.allclose(repaired[name][0], target_mean, atol=1e-4), name
        assert torch.allclose(repaired[name][1], target_std, rtol=1e-3, atol=1e-4), name


def load_state(config, state):
    model = build_model(config)
    model.load_state_dict(state)
    return model.eval()
