"""Train several seeds of one configuration as one vectorized computation (torch.func).

Runs that share data set, architecture, width and hyper-parameters, and differ only in
their init and data-order seeds, are stacked along a new leading "seed" axis: one
forward, one backward and one optimizer step serve all of them. SGD (with momentum and
weight decay) and Adam act element-wise, so each seed follows exactly the trajectory it
would follow alone, up to float reassociation. Each seed keeps its own initialization
and its own data order.

BatchNorm updates running statistics in place, which vmap cannot batch: such models
train one seed at a time (`can_vectorize`).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Callable

import torch
from torch.func import stack_module_state
from torch.nn import functional as F

from lmctui.core.cpu_threads import intra_op_threads
from lmctui.core.data import Dataset
from lmctui.core.mlp_grad import mlp_loss_and_grads
from lmctui.core.models import ModelConfig
from lmctui.core.stacked import StackedModel, evaluate_stack
from lmctui.core.optim import Optimizer
from lmctui.core.training import (PROGRESS_SECONDS, Checkpointer, EpochEnd, StepProgress, Throttle, TrainConfig,
                                  TrainResult, TrainState, init_model, optimizer_state, restore, stop_point)


def can_vectorize(model_config: ModelConfig) -> bool:
    return vectorize_refusal(model_config) is None


def vectorize_refusal(model_config: ModelConfig, input_dtype: torch.dtype = torch.float32) -> str | None:
    """Why seeds of this model cannot train as one vectorized computation (None when they can)."""
    if not model_config.user:
        return None if model_config.vectorizable else "BatchNorm updates its running statistics in place"
    model = init_model(model_config, 0)
    if any(getattr(m, "track_running_stats", False) for m in model.modules()):
        return "it has BatchNorm, which updates its running statistics in place"
    return _vmap_refusal(model_config, model, input_dtype)


def _vmap_refusal(model_config: ModelConfig, model: torch.nn.Module, dtype: torch.dtype) -> str | None:
    """Run two stacked copies forward and backward on two examples; what vmap refuses, as one line."""
    params, buffers = stack_module_state([model, model])
    stack = StackedModel(model_config, {k: v.detach().requires_grad_() for k, v in params.items()}, buffers)
    try:
        stack.logits(torch.zeros(2, 2, *model_config.input_shape, dtype=dtype)).sum().backward()
    except Exception as err:  # whatever the user's forward does that vmap cannot batch
        return f"vmap cannot batch its forward ({type(err).__name__}: {' '.join(str(err).split())[:160]})"
    return None


def same_but_seeds(configs: list[TrainConfig]) -> bool:
    strip = [c.to_dict() | {"init_seed": 0, "data_seed": 0} for c in configs]
    return all(s == strip[0] for s in strip)


def seed_stack(model_config: ModelConfig, configs: list[TrainConfig], device: torch.device,
               initial_state: dict[str, torch.Tensor] | None = None,
               states: list[dict[str, torch.Tensor]] | None = None) -> StackedModel:
    """One freshly initialized network per config (its own init seed), stacked and trainable;
    all started from `initial_state`, or each from its own of `states`."""
    models = [init_model(model_config, c.init_seed) for c in configs]
    for model, state in zip(models, states or [initial_state] * len(models)):
        if state is not None:
            model.load_state_dict(state)
    params, buffers = stack_module_state(models)  # name -> (S, ...)
    return StackedModel(model_config, {k: v.detach().to(device).requires_grad_() for k, v in params.items()},
                        {k: v.to(device) for k, v in buffers.items()})


def train_many(
    model_config: ModelConfig,
    configs: list[TrainConfig],
    data: Dataset,
    device: torch.device,
    initial_state: dict[str, torch.Tensor] | None = None,
    on_event: Callable[[int, object], None] | None = None,
    should_stop: Callable[[], str | None] | None = None,  # None to go on, else the status to record
    resume: list[TrainState] | None = None,  # one per seed, all after the same epoch
    on_checkpoint: Checkpointer | None = None,
) -> list[TrainResult]:
    """Train len(configs) seeds together; `on_event(seed_index, event)`, `resume` and
    `on_checkpoint` (one state per seed) as in `train`."""
    if not same_but_seeds(configs):
        raise ValueError("vectorized runs must differ only in their seeds")
    if resume is not None and (len(resume) != len(configs) or len({(r.epoch, r.step) for r in resume}) != 1):
        raise ValueError("resume needs one state per seed, all after the same epoch and step")
    config = configs[0].validate()
    emit = on_event or (lambda index, event: None)
    with intra_op_threads(device):  # 64 inits of small tensors: as short as the training's ops
        stack = seed_stack(model_config, configs, device, initial_state, [r.model for r in resume] if resume else None)
    S, n = stack.size, len(data.x_train)
    names = list(stack.params)
    steps = math.ceil(n / config.batch_size)
    optimizer = Optimizer(stack.params.values(), config, steps)
    orders = [torch.Generator().manual_seed(c.data_seed) for c in configs]
    histories = restore(resume, optimizer, names, orders, stacked=True)
    offer = on_checkpoint or (lambda epoch, capture: None)

    def capture(step: int = 0, before_shuffle: list[torch.Tensor] | None = None, running=None) -> list[TrainState]:
        groups, schedule = optimizer.groups(), optimizer.schedule()
        return [TrainState(len(histories[i]), stack.state(i), optimizer_state(optimizer, names, _seed(i)), groups,
                           schedule, orders[i].get_state() if before_shuffle is None else before_shuffle[i],
                           list(histories[i]), step, running[i] if running else (0.0, 0.0)) for i in range(S)]

    checkpoints = [{0: stack.state(i)} if 0 in config.save_epochs and not resume else {} for i in range(S)]
    if not resume:
        offer(0, capture)
    if stack.mlp_depth is not None:  # an MLP's gradients by hand: no autograd graph per step
        x_train = data.x_train.flatten(1)
        loss_and_grads = functools.partial(mlp_loss_and_grads, stack.params, stack.mlp_depth)
    else:
        x_train, loss_and_grads = data.x_train, functools.partial(_autograd_loss_and_grads, stack)
    start = time.perf_counter() - (histories[0][-1].seconds if histories[0] else 0.0)
    progress = Throttle(PROGRESS_SECONDS)
    first = len(histories[0]) + 1
    with intra_op_threads(device):
        for epoch in range(first, config.epochs + 1):
            before_shuffle = [g.get_state() for g in orders]
            perms = torch.stack([torch.randperm(n, generator=g) for g in orders]).to(device)  # (S, N)
            mid = resume is not None and epoch == first and resume[0].step > 0
            begin = resume[0].step if mid else 0
            loss_sum = torch.tensor([r.running[0] for r in resume] if mid else [0.0] * S, device=device)
            correct = torch.tensor([r.running[1] for r in resume] if mid else [0.0] * S, device=device)
            for step in range(begin, steps):
                stop_point(should_stop,
                           lambda: capture(step, before_shuffle, list(zip(loss_sum.tolist(), correct.tolist()))))
                idx = perms[:, step * config.batch_size:(step + 1) * config.batch_size]  # (S, B)
                x = x_train.index_select(0, idx.flatten()).view(*idx.shape, *x_train.shape[1:])  # (S, B, ...)
                losses, hits, grads = loss_and_grads(x, data.y_train[idx])
                optimizer.step([grads[name] for name in names])
                loss_sum += losses * idx.shape[1]
                correct += hits
                if progress.due():
                    for i in range(S):
                        emit(i, StepProgress(epoch, step + 1, steps))
            test_loss, test_acc = evaluate_stack(stack, data.x_test, data.y_test)
            last = epoch == config.epochs
            train_loss, train_acc = evaluate_stack(stack, data.x_train, data.y_train) if last else (None, None)
            seconds = time.perf_counter() - start
            for i in range(S):
                final = (train_loss[i].item(), train_acc[i].item()) if last else (None, None)
                event = EpochEnd(epoch, config.epochs, loss_sum[i].item() / n, correct[i].item() / n,
                                 test_loss[i].item(), test_acc[i].item(), seconds, *final)
                histories[i].append(event)
                emit(i, event)
                if epoch in config.save_epochs and all(math.isfinite(e.train_loss) for e in histories[i]):
                    checkpoints[i][epoch] = stack.state(i)
            if not any(math.isfinite(h[-1].train_loss) for h in histories):
                break  # every seed diverged: later epochs would only carry NaN
            offer(epoch, capture)
    return [TrainResult(stack.state(i), histories[i], checkpoints[i]) for i in range(S)]


def _autograd_loss_and_grads(stack: StackedModel, x: torch.Tensor,
                              y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """As `mlp_loss_and_grads`, for any stack, through autograd."""
    logits = stack.logits(x)  # (S, B, C)
    losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(stack.size, -1).mean(1)
    # seeds are independent: the sum's gradient is each seed's own mean-loss gradient
    grads = torch.autograd.grad(losses.sum(), list(stack.params.values()))
    return losses.detach(), (logits.detach().argmax(-1) == y).sum(1), dict(zip(stack.params, grads))


def _seed(index: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Seed `index`'s part of a stacked optimizer tensor; a scalar (Adam's step) is every seed's."""
    return lambda tensor: tensor if tensor.dim() == 0 else tensor[index]
