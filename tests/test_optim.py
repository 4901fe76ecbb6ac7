"""lmctui's optimizer against its oracle: torch.optim's SGD / Adam under LambdaLR, step by step, bit for bit."""

import pytest
import torch

from lmctui.configs import TrainConfig
from lmctui.core.optim import Optimizer, lr_factor

CONFIGS = {
    "sgd": TrainConfig(epochs=2, lr=0.1, momentum=0.9, weight_decay=5e-4, warmup_epochs=1, schedule="cosine"),
    "sgd-plain": TrainConfig(epochs=2, lr=0.1, momentum=0.0),
    "adam": TrainConfig(epochs=2, optimizer="adam", lr=0.01, weight_decay=1e-4, warmup_epochs=0.5, schedule="cosine"),
}
STEPS = 5  # per epoch


def torch_optimizer(params, config):
    if config.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay, foreach=True)
    else:
        opt = torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                              weight_decay=config.weight_decay, foreach=True)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(config, STEPS))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_step_equals_torch_optim_under_lambda_lr(name):
    config = CONFIGS[name]
    gen = torch.Generator().manual_seed(0)
    ours = [torch.randn(4, 3, generator=gen), torch.randn(3, generator=gen)]
    theirs = [p.clone().requires_grad_() for p in ours]
    optimizer, (reference, schedule) = Optimizer(ours, config, STEPS), torch_optimizer(theirs, config)
    for _ in range(config.epochs * STEPS):
        grads = [torch.randn(p.shape, generator=gen) for p in ours]
        for p, g in zip(theirs, grads):
            p.grad = g.clone()
        assert optimizer.lr == reference.param_groups[0]["lr"]
        optimizer.step(grads)
        reference.step()
        schedule.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b.detach())
    assert optimizer.schedule()["last_epoch"] == schedule.state_dict()["last_epoch"]
    saved = reference.state_dict()["state"]
    for index, state in enumerate(optimizer.state):
        assert state.keys() == saved.get(index, {}).keys()
        assert all(torch.equal(value, saved[index][key]) for key, value in state.items())


def test_a_loaded_state_continues_as_the_saved_one_would():
    config = CONFIGS["adam"]
    gen = torch.Generator().manual_seed(1)
    grads = [[torch.randn(3, generator=gen)] for _ in range(6)]
    straight, paused = Optimizer([torch.ones(3)], config, STEPS), Optimizer([torch.ones(3)], config, STEPS)
    for g in grads[:3]:
        straight.step(g)
        paused.step(g)
    resumed = Optimizer([paused.params[0].clone()], config, STEPS)
    resumed.load([{k: v.clone() for k, v in s.items()} for s in paused.state], paused.schedule())
    for g in grads[3:]:
        straight.step(g)
        resumed.step(g)
    assert torch.equal(straight.params[0], resumed.params[0])
