from dataclasses import replace

import pytest
import torch

from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.models import ModelConfig
from lmctui.core.training import EpochEnd, TrainConfig, train
from lmctui.core.vectorized import can_vectorize, same_but_seeds, train_many

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig("digits"))


def small(data, n=256):
    return replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])


def assert_same_training(many, alone, atol):
    for m, a in zip(many, alone):
        for key in a.state_dict:
            torch.testing.assert_close(m.state_dict[key], a.state_dict[key], atol=atol, rtol=1e-4)
        for em, ea in zip(m.history, a.history):
            assert em.epoch == ea.epoch
            assert em.train_loss == pytest.approx(ea.train_loss, abs=atol * 10)
            assert em.test_acc == pytest.approx(ea.test_acc, abs=0.01)
            assert (em.eval_train_loss is None) == (ea.eval_train_loss is None)
        assert m.train_loss == pytest.approx(a.train_loss, abs=atol * 10)
        assert m.train_acc == pytest.approx(a.train_acc, abs=0.01)


@pytest.mark.parametrize("base", [
    TrainConfig(epochs=3, momentum=0.9, weight_decay=5e-4, save_epochs=(0, 2)),
    TrainConfig(epochs=3, optimizer="adam", lr=3e-3, warmup_epochs=1, schedule="cosine", batch_size=50),
], ids=["sgd", "adam"])
def test_vectorized_mlp_matches_training_each_seed_alone(digits, base):
    model = ModelConfig("mlp", 32, 2, "none", digits.input_shape, digits.num_classes)
    configs = [replace(base, init_seed=s, data_seed=10 + s) for s in range(3)]
    many = train_many(model, configs, digits, CPU)
    alone = [train(model, c, digits, CPU) for c in configs]
    assert_same_training(many, alone, atol=1e-5)
    assert sorted(many[0].checkpoints) == sorted(alone[0].checkpoints)
    for epoch in alone[1].checkpoints:
        for key, value in alone[1].checkpoints[epoch].items():
            torch.testing.assert_close(many[1].checkpoints[epoch][key], value, atol=1e-5, rtol=1e-4)
    # the seeds really are different networks
    assert not torch.equal(many[0].state_dict["out.weight"], many[1].state_dict["out.weight"])


@pytest.mark.parametrize("model", [
    ModelConfig("vgg", 1, 0, "layer", (1, 8, 8), 10),
    ModelConfig("resnet20", 1, 0, "none", (1, 8, 8), 10),
], ids=["vgg-layer", "resnet-none"])
def test_vectorized_cnn_matches_training_each_seed_alone(digits, model):
    data = small(digits)
    configs = [TrainConfig(epochs=1, lr=0.02, init_seed=s, data_seed=s) for s in range(2)]
    assert can_vectorize(model)
    assert_same_training(train_many(model, configs, data, CPU), [train(model, c, data, CPU) for c in configs],
                         atol=1e-4)


def test_shared_init_with_an_initial_state(digits):
    model = ModelConfig("mlp", 16, 1, "none", digits.input_shape, digits.num_classes)
    start = train(model, TrainConfig(epochs=1), digits, CPU).state_dict
    configs = [TrainConfig(epochs=1, data_seed=s, save_epochs=(0,)) for s in range(2)]
    many = train_many(model, configs, digits, CPU, initial_state=start)
    alone = [train(model, c, digits, CPU, initial_state=start) for c in configs]
    assert all(torch.equal(many[i].checkpoints[0][k], start[k]) for i in range(2) for k in start)
    assert_same_training(many, alone, atol=1e-5)


def test_events_carry_the_seed_index(digits):
    model = ModelConfig("mlp", 8, 1, "none", digits.input_shape, digits.num_classes)
    seen = []
    train_many(model, [TrainConfig(epochs=2, init_seed=s) for s in range(3)], digits, CPU,
               on_event=lambda i, e: seen.append((i, e.epoch)) if isinstance(e, EpochEnd) else None)
    assert sorted(seen) == [(i, e) for i in range(3) for e in (1, 2)]


def test_only_seed_differences_can_share_a_computation():
    assert same_but_seeds([TrainConfig(init_seed=1), TrainConfig(init_seed=2, data_seed=5)])
    assert not same_but_seeds([TrainConfig(lr=0.1), TrainConfig(lr=0.2)])
    with pytest.raises(ValueError):
        train_many(ModelConfig("mlp", 4, 1), [TrainConfig(lr=0.1), TrainConfig(lr=0.2)], None, CPU)
    assert not can_vectorize(ModelConfig("vgg", 1, 0, "batch", (1, 8, 8), 10))


def test_a_busy_cpu_trains_on_one_thread_to_the_same_weights_and_gives_the_threads_back(digits, monkeypatch):
    from lmctui.core import cpu_threads, vectorized

    model = ModelConfig("mlp", 32, 2, "none", digits.input_shape, digits.num_classes)
    configs = [TrainConfig(epochs=1, init_seed=s, data_seed=s) for s in range(4)]
    threads = torch.get_num_threads()
    seen = []
    real_step = vectorized.Optimizer.step
    monkeypatch.setattr(vectorized.Optimizer, "step", lambda self, g: (seen.append(torch.get_num_threads()),
                                                                       real_step(self, g)))
    results = {}
    for load in (0.0, 100.0):  # an idle machine, then one that other processes keep busy
        monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (load, load, load))
        results[load] = train_many(model, configs, digits, CPU)
        assert torch.get_num_threads() == threads
    assert set(seen) == ({threads, 1} if threads > 1 else {1})
    for idle, busy in zip(results[0.0], results[100.0]):
        assert all(torch.equal(idle.state_dict[k], busy.state_dict[k]) for k in idle.state_dict)


def test_trainings_side_by_side_give_the_thread_count_back_once_the_last_ends(monkeypatch):
    from lmctui.core import cpu_threads

    monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (100.0, 100.0, 100.0))
    threads = torch.get_num_threads()
    first, second = cpu_threads.intra_op_threads(CPU), cpu_threads.intra_op_threads(CPU)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first to start ends first: the second still runs on one thread
    assert torch.get_num_threads() == 1
    second.__exit__(None, None, None)
    assert torch.get_num_threads() == threads
