"""Resuming a training: the oracle is the same config trained without a stop, on the CPU.

A training stopped after epoch k and resumed from its state there must end with exactly
the weights (torch.equal) of one that never stopped: the optimizer's moments, the
schedule's position and the data order all come back. Then the service: a re-queued job
takes up the runs it made (same ids) from the newest resume state that verifies, or
from scratch, saying so.
"""

import math

import pytest
import torch

from lmctui.configs import DataConfig, TrainConfig
from lmctui.core.data import load_dataset
from lmctui.core.models import ModelConfig
from lmctui.core.training import Cancelled, train
from lmctui.core.vectorized import train_many
from lmctui.jobs.queue import JobQueue
from lmctui.jobs.worker import DevicePolicy, Worker
from lmctui.service.jobs import Jobs, execute
from lmctui.service.requests import TrainRequest
from lmctui.service.resume import load_state, resume_path
from lmctui.service.training import train_runs
from lmctui.store import Registry
from lmctui.store.runfiles import METRICS, WEIGHTS, checkpoint_path, file_sha256, load_weights, read_metrics

CPU = torch.device("cpu")
MOONS = DataConfig("moons", n_samples=400)
CONFIGS = {
    "sgd": TrainConfig(epochs=5, lr=0.1, momentum=0.9, weight_decay=5e-4, warmup_epochs=1, batch_size=64),
    "adam": TrainConfig(epochs=5, optimizer="adam", lr=0.01, weight_decay=1e-4, warmup_epochs=2, batch_size=64),
}


@pytest.fixture(scope="module")
def moons():
    return load_dataset(MOONS)


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def states_by_epoch():
    """An on_checkpoint that keeps every state it is offered; returns (callback, {epoch: states})."""
    kept = {}
    return (lambda epoch, capture: kept.__setitem__(epoch, capture())), kept


def stop_after(calls: int):
    """A should_stop that asks to stop at its `calls`-th call (one call per batch)."""
    count = [0]

    def should_stop():
        count[0] += 1
        return "cancelled" if count[0] > calls else None

    return should_stop


# -- the core ------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", sorted(CONFIGS))
def test_resuming_after_any_epoch_gives_the_weights_of_a_training_that_never_stopped(moons, optimizer):
    model, config = ModelConfig("mlp", 16, 2, "none", moons.input_shape, 2), CONFIGS[optimizer]
    offer, states = states_by_epoch()
    whole = train(model, config, moons, CPU, on_checkpoint=offer)
    assert sorted(states) == list(range(config.epochs + 1))
    for epoch in range(1, config.epochs):
        resumed = train(model, config, moons, CPU, resume=states[epoch][0])
        assert same_weights(resumed.state_dict, whole.state_dict), f"resumed after epoch {epoch}"
        assert [e.test_loss for e in resumed.history] == [e.test_loss for e in whole.history]
        assert resumed.train_loss == whole.train_loss


def test_a_training_stopped_mid_epoch_resumes_from_its_last_state_as_if_never_stopped(moons):
    """The state is a copy: the batches trained after it, before the stop, must not leak into it."""
    model, config = ModelConfig("mlp", 16, 2, "none", moons.input_shape, 2), CONFIGS["adam"]
    steps = math.ceil(len(moons.x_train) / config.batch_size)
    offer, states = states_by_epoch()
    with pytest.raises(Cancelled):
        train(model, config, moons, CPU, should_stop=stop_after(2 * steps + 3), on_checkpoint=offer)
    assert max(states) == 2
    resumed = train(model, config, moons, CPU, resume=states[2][0])
    assert same_weights(resumed.state_dict, train(model, config, moons, CPU).state_dict)


def test_a_batchnorm_network_resumes_exactly_with_its_running_statistics():
    digits = load_dataset(DataConfig("digits"))
    model = ModelConfig("vgg", 2, 1, "batch", digits.input_shape, digits.num_classes)
    config = TrainConfig(epochs=2, lr=0.05, batch_size=256)
    offer, states = states_by_epoch()
    whole = train(model, config, digits, CPU, on_checkpoint=offer)
    assert any("running_mean" in k for k in states[1][0].model)
    assert same_weights(train(model, config, digits, CPU, resume=states[1][0]).state_dict, whole.state_dict)


@pytest.mark.parametrize("optimizer", sorted(CONFIGS))
def test_a_seed_stack_resumes_from_its_seeds_states_as_if_never_stopped(moons, optimizer):
    model = ModelConfig("mlp", 16, 2, "none", moons.input_shape, 2)
    configs = [TrainConfig(**{**CONFIGS[optimizer].to_dict(), "init_seed": s, "data_seed": s}) for s in (0, 1, 2)]
    offer, states = states_by_epoch()
    whole = train_many(model, configs, moons, CPU, on_checkpoint=offer)
    assert [len(states[e]) for e in states] == [3] * len(states)
    resumed = train_many(model, configs, moons, CPU, resume=states[2])
    assert all(same_weights(r.state_dict, w.state_dict) for r, w in zip(resumed, whole))
    # a seed's state is that seed's alone: seed 1 of the stack, resumed alone, follows its own path
    assert states[2][1].data_order.tolist() != states[2][0].data_order.tolist()
    with pytest.raises(ValueError, match="one state per seed"):
        train_many(model, configs, moons, CPU, resume=states[2][:2])


# -- jobs taken up again -------------------------------------------------------------

REQUEST = TrainRequest(MOONS, width=16, depth=2, seeds=(0, 1), device="cpu",
                       train=TrainConfig(epochs=6, lr=0.05, momentum=0.9, warmup_epochs=1, batch_size=64,
                                         save_epochs=(1, 4)))
STEPS = math.ceil(MOONS.n_samples * 0.8 / 64)  # batches per epoch (moons: 80 % train)


@pytest.fixture
def every_epoch(monkeypatch):
    """A resume state after every epoch, not only every RESUME_SECONDS."""
    monkeypatch.setattr("lmctui.service.training.RESUME_SECONDS", 0.0)


def run_job(registry: Registry, stop_after_batches: int | None = None) -> dict:
    """Claim the next job and run it as a worker does; cancel it (as `jobs --cancel` would) after that many batches."""
    queue = JobQueue(registry)
    worker = Worker(queue, None, DevicePolicy(1), "test")
    count = [0]

    def work(job, should_stop, on_progress):
        def stop():
            count[0] += 1
            if stop_after_batches is not None and count[0] > stop_after_batches:
                worker.local_cancel.add(job["id"])
            return should_stop()

        return execute(registry, job, stop, on_progress)

    worker.execute = work
    return worker.run_one()


def runs_of(registry: Registry, job_id: str) -> list[dict]:
    return sorted((r for r in registry.all("runs") if r.get("job") == job_id), key=lambda r: r["seed"])


def oracle(tmp_path, request: TrainRequest) -> list[dict]:
    """The final weights of the same request trained without a stop, in a home of its own."""
    registry = Registry(tmp_path / "oracle")
    return [load_weights(registry.run_dir(r["id"]) / WEIGHTS) for r in train_runs(registry, request)]


def test_a_requeued_job_takes_up_its_runs_from_the_newest_checkpoint(tmp_path, every_epoch):
    registry = Registry(tmp_path / "home")
    jobs = Jobs(registry)
    job = jobs.submit(REQUEST)
    stopped = run_job(registry, stop_after_batches=3 * STEPS + 2)  # in epoch 4, after three whole epochs
    assert stopped["status"] == "cancelled"
    before = runs_of(registry, job["id"])
    assert [r["status"] for r in before] == ["cancelled", "cancelled"]
    assert all(sorted(map(int, r["resume_sha256"])) == [2, 3] for r in before)  # the newest two kept
    assert all(r["checkpoints"] == [1] for r in before)  # written as training went, not at its end

    jobs.requeue(job["id"])
    again = run_job(registry)
    assert again["status"] == "done" and "resumed from epoch 3" in again["message"]
    after = runs_of(registry, job["id"])
    assert [r["id"] for r in after] == [r["id"] for r in before] == again["result"]["runs"]
    assert [r["resumed_from_epoch"] for r in after] == [3, 3]
    assert [[x["epoch"] for x in r["resumes"]] for r in after] == [[3], [3]]
    for run, expected in zip(after, oracle(tmp_path, REQUEST)):
        run_dir = registry.run_dir(run["id"])
        assert same_weights(load_weights(run_dir / WEIGHTS, run["weights_sha256"]), expected)
        assert [row["epoch"] for row in read_metrics(run_dir / METRICS)] == [1, 2, 3, 4, 5, 6]
        assert run["checkpoints"] == [1, 4] and run["resume_sha256"] == {}
        assert all(file_sha256(checkpoint_path(run_dir, e)) == run["checkpoint_sha256"][str(e)] for e in (1, 4))
        assert not list((run_dir / "checkpoints").glob("resume_*"))  # a finished run keeps no resume states


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, every_epoch):
    registry = Registry(tmp_path / "home")
    jobs = Jobs(registry)
    job = jobs.submit(REQUEST)
    run_job(registry, stop_after_batches=3 * STEPS + 2)
    first = runs_of(registry, job["id"])[0]
    newest = resume_path(registry.run_dir(first["id"]), 3)
    newest.write_bytes(newest.read_bytes()[:-1] + b"\0")  # one byte changed: its sha256 no longer matches
    jobs.requeue(job["id"])
    again = run_job(registry)
    assert "resumed from epoch 2" in again["message"]
    after = runs_of(registry, job["id"])
    assert [r["resumed_from_epoch"] for r in after] == [2, 2]  # a stack resumes together, from a common epoch
    for run, expected in zip(after, oracle(tmp_path, REQUEST)):
        assert same_weights(load_weights(registry.run_dir(run["id"]) / WEIGHTS), expected)


def test_without_a_valid_checkpoint_the_runs_start_again_from_scratch_and_the_job_says_so(tmp_path):
    request = TrainRequest(MOONS, width=8, depth=1, seeds=(3,), device="cpu",
                           train=TrainConfig(epochs=3, batch_size=64))
    registry = Registry(tmp_path / "home")
    jobs = Jobs(registry)
    job = jobs.submit(request)
    run_job(registry, stop_after_batches=STEPS + 1)  # stopped in epoch 2: the state of that batch is kept ...
    [before] = runs_of(registry, job["id"])
    assert before["status"] == "cancelled" and list(before["resume_sha256"]) == ["1"] and before["epochs_done"] == 1
    resume_path(registry.run_dir(before["id"]), 1).unlink()  # ... and lost
    jobs.requeue(job["id"])
    again = run_job(registry)
    assert again["status"] == "done" and "from scratch (no valid checkpoint)" in again["message"]
    [after] = runs_of(registry, job["id"])
    assert after["id"] == before["id"] and after["resumed_from_epoch"] == 0
    assert [row["epoch"] for row in read_metrics(registry.run_dir(after["id"]) / METRICS)] == [1, 2, 3]
    assert same_weights(load_weights(registry.run_dir(after["id"]) / WEIGHTS), oracle(tmp_path, request)[0])


def test_seeds_trained_one_at_a_time_keep_a_finished_run_and_resume_the_stopped_one(tmp_path, every_epoch):
    request = TrainRequest(MOONS, width=8, depth=1, seeds=(0, 1), device="cpu", vectorize=False,
                           train=TrainConfig(epochs=4, optimizer="adam", lr=0.01, batch_size=64))
    registry = Registry(tmp_path / "home")
    jobs = Jobs(registry)
    job = jobs.submit(request)
    run_job(registry, stop_after_batches=4 * STEPS + 2 * STEPS + 1)  # seed 0 done, seed 1 in its epoch 3
    done, stopped = runs_of(registry, job["id"])
    assert (done["status"], stopped["status"]) == ("done", "cancelled")
    jobs.requeue(job["id"])
    again = run_job(registry)
    kept, resumed = runs_of(registry, job["id"])
    assert again["status"] == "done" and again["result"]["runs"] == [done["id"], stopped["id"]]
    assert kept == done  # untouched: not trained again
    assert resumed["resumed_from_epoch"] == 2 and "resumes" not in kept
    for run, expected in zip((kept, resumed), oracle(tmp_path, request)):
        assert same_weights(load_weights(registry.run_dir(run["id"]) / WEIGHTS), expected)


def test_a_resume_state_holds_what_training_needs_and_verifies_by_sha256(tmp_path, every_epoch):
    registry = Registry(tmp_path / "home")
    job = Jobs(registry).submit(REQUEST)
    run_job(registry, stop_after_batches=2 * STEPS + 1)
    run = runs_of(registry, job["id"])[0]
    state = load_state(resume_path(registry.run_dir(run["id"]), 2), run["resume_sha256"]["2"])
    assert state.epoch == len(state.history) == 2 and state.finite
    assert set(state.optimizer) == {k for k in state.model if "weight" in k or "bias" in k}
    assert all("momentum_buffer" in s for s in state.optimizer.values())
    assert state.step == 1 and state.scheduler["last_epoch"] == 2 * STEPS + 1  # the state of the batch it stopped at
    from lmctui.errors import UserError

    with pytest.raises(UserError, match="sha256"):
        load_state(resume_path(registry.run_dir(run["id"]), 2), "0" * 64)


def test_a_seed_named_twice_still_trains_two_runs_and_nothing_is_taken_up(tmp_path):
    request = TrainRequest(MOONS, width=4, depth=1, seeds=(2, 2), device="cpu", train=TrainConfig(epochs=1))
    registry = Registry(tmp_path / "home")
    first = train_runs(registry, request, job="j1")
    again = train_runs(registry, request, job="j1")  # the same job once more: its runs cannot be told apart
    assert len({r["id"] for r in first + again}) == 4 and {r["status"] for r in first + again} == {"done"}
