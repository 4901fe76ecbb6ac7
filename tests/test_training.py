import math

import pytest
import torch

from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.models import ModelConfig
from lmctui.core.training import Cancelled, EpochEnd, TrainConfig, init_model, lr_factor, train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def moons():
    return load_dataset(DataConfig("moons", n_samples=1000))


def mlp(data, width=16):
    return ModelConfig("mlp", width, 2, "none", data.input_shape, data.num_classes)


def test_training_is_deterministic_on_cpu(moons):
    config = TrainConfig(epochs=3, init_seed=4, data_seed=5)
    a = train(mlp(moons), config, moons, CPU)
    b = train(mlp(moons), config, moons, CPU)
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert [e.train_loss for e in a.history] == [e.train_loss for e in b.history]


def test_init_seed_and_data_seed_are_separate(moons):
    shared_init = [train(mlp(moons), TrainConfig(epochs=2, init_seed=0, data_seed=d, save_epochs=(0,)), moons, CPU)
                   for d in (0, 1)]
    start = [r.checkpoints[0] for r in shared_init]
    assert all(torch.equal(start[0][k], start[1][k]) for k in start[0])
    assert any(not torch.equal(shared_init[0].state_dict[k], shared_init[1].state_dict[k]) for k in start[0])
    # the init seed alone decides the starting weights
    fresh = init_model(mlp(moons), 0).state_dict()
    assert all(torch.equal(fresh[k], start[0][k]) for k in fresh)


def test_training_learns_and_reports_every_epoch(moons):
    events = []
    result = train(mlp(moons), TrainConfig(epochs=20), moons, CPU, on_event=events.append)
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == list(range(1, 21))
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].test_acc > 0.9
    assert result.history == epochs


def test_adam_with_warmup_and_cosine_learns(moons):
    config = TrainConfig(optimizer="adam", lr=1e-2, epochs=20, warmup_epochs=1, schedule="cosine", weight_decay=1e-4)
    assert train(mlp(moons), config, moons, CPU).history[-1].test_acc > 0.9


def test_checkpoints_are_kept_at_the_asked_epochs(moons):
    result = train(mlp(moons), TrainConfig(epochs=3, save_epochs=(0, 2, 3)), moons, CPU)
    assert sorted(result.checkpoints) == [0, 2, 3]
    assert all(torch.equal(result.checkpoints[3][k], result.state_dict[k]) for k in result.state_dict)


def test_initial_state_is_where_training_starts(moons):
    parent = train(mlp(moons), TrainConfig(epochs=2), moons, CPU).state_dict
    child = train(mlp(moons), TrainConfig(epochs=1, lr=1e-12, momentum=0.0, init_seed=99), moons, CPU,
                  initial_state=parent)
    for k in parent:
        assert torch.allclose(child.state_dict[k], parent[k], atol=1e-9)


def test_should_stop_cancels_between_batches(moons):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        train(mlp(moons), TrainConfig(epochs=5), moons, CPU, should_stop=stop)
    assert len(calls) == 4


def test_lr_factor_follows_warmup_then_cosine():
    config = TrainConfig(epochs=10, warmup_epochs=2, schedule="cosine")
    f = lr_factor(config, steps_per_epoch=10)
    assert f(0) == pytest.approx(1 / 20)
    assert f(19) == pytest.approx(1.0)
    assert f(20) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5 * (1 + math.cos(math.pi * 40 / 80)))
    assert f(99) == pytest.approx(0.5 * (1 + math.cos(math.pi * 79 / 80)))
    assert lr_factor(TrainConfig(epochs=3), 5)(14) == 1.0


def test_the_result_carries_the_final_train_loss_evaluated_as_curves_evaluate_it(moons):
    from lmctui.core.evaluation import loss_and_accuracy

    config = mlp(moons)
    result = train(config, TrainConfig(epochs=3, data_seed=2), moons, CPU)
    model = init_model(config, 99)
    model.load_state_dict(result.state_dict)
    with torch.no_grad():
        oracle = loss_and_accuracy(model.eval()(moons.x_train), moons.y_train)  # one pass, no batching
    assert (result.train_loss, result.train_acc) == pytest.approx(oracle, rel=1e-5)
    assert result.history[-1].eval_train_loss == result.train_loss
    assert [e.eval_train_loss for e in result.history[:-1]] == [None, None]
    # the running figure keeps its own name, and is not the evaluated one
    assert result.train_loss_running == result.history[-1].train_loss != result.train_loss
    assert result.train_acc_running == result.history[-1].train_acc
