"""Every long loop of the core stops when asked: `should_stop` is checked between steps and
`Cancelled` carries the status it returned."""

import pytest
import torch

from lmctui.core.averaging import average, merge_many
from lmctui.core.consistency import best_responses, pairwise_weight_matching, universe_alignment
from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.interpolation import interpolate
from lmctui.core.matching import activation_matching, weight_matching
from lmctui.core.models import ModelConfig
from lmctui.core.permutation import identity_perms, spec_for
from lmctui.core.stopping import Cancelled
from lmctui.configs import InterpolationOptions
from nets import random_net

CONFIG = ModelConfig("mlp", 12, 2, "none", (2,), 2)


class StopAfter:
    """should_stop that says 'interrupted' from its `n`-th question on, counting the questions."""

    def __init__(self, n):
        self.n, self.asked = n, 0

    def __call__(self):
        self.asked += 1
        return "interrupted" if self.asked >= self.n else None


@pytest.fixture(scope="module")
def states():
    return [{k: v.detach() for k, v in random_net(CONFIG, seed).state_dict().items()} for seed in range(4)]


@pytest.fixture(scope="module")
def data():
    return load_dataset(DataConfig("moons", n_samples=64))


def work(name, states, data):
    spec = spec_for(CONFIG)
    return {
        "weight matching": lambda stop: weight_matching(spec, states[0], states[1], restarts=4, should_stop=stop),
        "activation matching": lambda stop: activation_matching(
            spec, random_net(CONFIG, 0), random_net(CONFIG, 1), data.x_train, batch_size=8, should_stop=stop),
        "pairwise": lambda stop: pairwise_weight_matching(spec, states, should_stop=stop),
        "shared frame": lambda stop: universe_alignment(spec, states, should_stop=stop),
        "best responses": lambda stop: best_responses(spec, states, [identity_perms(spec, s) for s in states],
                                                      should_stop=stop),
        "mergemany": lambda stop: merge_many(CONFIG, states, should_stop=stop),
        "average": lambda stop: average(CONFIG, states, "weight", data, should_stop=stop),
        "interpolation": lambda stop: interpolate(CONFIG, states[0], states[1], data,
                                                  InterpolationOptions(points=5, reset_bn=False), should_stop=stop),
    }[name]


NAMES = ["weight matching", "activation matching", "pairwise", "shared frame", "best responses", "mergemany",
         "average", "interpolation"]


@pytest.mark.parametrize("name", NAMES)
def test_a_long_loop_stops_at_the_first_step_it_is_told_to(states, data, name):
    run = work(name, states, data)
    stop = StopAfter(1)
    with pytest.raises(Cancelled) as stopped:
        run(stop)
    assert stopped.value.status == "interrupted" and stop.asked == 1  # nothing ran past the first question


@pytest.mark.parametrize("name", NAMES)
def test_a_loop_never_told_to_stop_asks_more_than_once_and_finishes(states, data, name):
    stop = StopAfter(10**9)
    work(name, states, data)(stop)
    assert stop.asked >= 1


@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("where", ["first batch", "mid-epoch", "epoch start"])
def test_training_stopped_between_batches_resumes_to_the_same_weights(data, seeds, where):
    from lmctui.core.training import TrainConfig, train
    from lmctui.core.vectorized import train_many

    configs = [TrainConfig(epochs=3, batch_size=10, init_seed=s, data_seed=s, schedule="cosine") for s in range(seeds)]

    def run(stop=None, resume=None):
        if seeds == 1:
            return [train(CONFIG, configs[0], data, torch.device("cpu"), should_stop=stop,
                          resume=resume[0] if resume else None)]
        return train_many(CONFIG, configs, data, torch.device("cpu"), should_stop=stop, resume=resume)

    steps = -(-len(data.x_train) // 10)
    stop_at = {"first batch": 1, "mid-epoch": steps + 3, "epoch start": 2 * steps + 1}[where]
    straight = run()
    with pytest.raises(Cancelled) as stopped:
        run(StopAfter(stop_at))
    states = stopped.value.capture()
    assert [(s.epoch, s.step) for s in states] == [divmod(stop_at - 1, steps)] * seeds
    resumed = run(resume=states)
    for a, b in zip(straight, resumed):
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
        assert [e.train_loss for e in a.history] == [e.train_loss for e in b.history]


def test_a_job_told_to_stop_mid_epoch_keeps_that_batch_and_resumes_to_the_same_weights(tmp_path):
    """The service side: the stop writes a resume state at the batch reached; the job run again takes the
    runs up from it (not from scratch) and ends with the weights of a run that never stopped."""
    from lmctui.service.requests import TrainRequest
    from lmctui.configs import DataConfig, TrainConfig
    from lmctui.service.training import train_runs
    from lmctui.store import Registry
    from lmctui.store.runfiles import WEIGHTS, load_weights

    request = TrainRequest(DataConfig("moons", n_samples=200), "mlp", 8, 1, "none", TrainConfig(epochs=3, batch_size=16),
                           seeds=(0, 1), device="cpu")
    straight_home, stopped_home = Registry(tmp_path / "a"), Registry(tmp_path / "b")
    [straight] = [train_runs(straight_home, request)]
    with pytest.raises(Cancelled):
        train_runs(stopped_home, request, should_stop=StopAfter(15), job="j1")  # in epoch 2
    events = []
    resumed = train_runs(stopped_home, request, on_event=lambda run, event: events.append(event), job="j1")
    assert [r["resumed_from_epoch"] for r in resumed] == [1, 1] and all(r["status"] == "done" for r in resumed)
    for a, b in zip(straight, resumed):
        wa = load_weights(straight_home.run_dir(a["id"]) / WEIGHTS)
        wb = load_weights(stopped_home.run_dir(b["id"]) / WEIGHTS)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
