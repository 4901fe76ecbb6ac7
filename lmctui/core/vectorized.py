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

import math
import time
from typing import Callable

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from lmctui.core.data import Dataset
from lmctui.core.evaluation import EVAL_BATCH
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.training import (PROGRESS_SECONDS, EpochEnd, StepProgress, Throttle, TrainConfig,
                                  TrainResult, check_stop, init_model, lr_factor, make_optimizer)


MLP_CPU_CHUNK = 256


def can_vectorize(model_config: ModelConfig) -> bool:
    return model_config.norm != "batch" or model_config.arch == "mlp"


def same_but_seeds(configs: list[TrainConfig]) -> bool:
    strip = [c.to_dict() | {"init_seed": 0, "data_seed": 0} for c in configs]
    return all(s == strip[0] for s in strip)


class StackedModel:
    """S networks of one architecture as stacked tensors (leading axis S), run at once.

    Used for S seeds in training and for S points of an interpolation curve.
    """

    def __init__(self, model_config: ModelConfig, params: dict[str, torch.Tensor],
                 buffers: dict[str, torch.Tensor]):
        self.skeleton = _skeleton(model_config)
        self.params, self.buffers = params, buffers
        self.size = len(next(iter(params.values())))
        # MLPs skip vmap: a chain of batched matmuls has far less per-step overhead.
        self.mlp_depth = model_config.depth if model_config.arch == "mlp" else None
        self.first_layer_line = None  # set by `on_a_line`

    @classmethod
    def from_states(cls, model_config: ModelConfig, stacked: dict[str, torch.Tensor]) -> "StackedModel":
        """From a state dict whose every tensor has the leading axis S."""
        names = {n for n, _ in _skeleton(model_config).named_parameters()}
        return cls(model_config, {k: v for k, v in stacked.items() if k in names},
                   {k: v for k, v in stacked.items() if k not in names})

    @classmethod
    def on_a_line(cls, model_config: ModelConfig, a: dict, b: dict, alphas: list[float]) -> "StackedModel":
        """The networks (1 - alpha) a + alpha b for every alpha, stacked.

        An MLP's first layer is linear in its weights, so its pre-activations on the
        line are the same mix of the endpoints' pre-activations: two matmuls instead of
        one per alpha.
        """
        from lmctui.core.interpolation import lerp_states

        stack = cls.from_states(model_config, lerp_states(a, b, alphas))
        if stack.mlp_depth is not None:
            weight = torch.tensor(alphas, dtype=a["hidden.0.weight"].dtype, device=a["hidden.0.weight"].device)
            stack.first_layer_line = (a["hidden.0.weight"], a["hidden.0.bias"], b["hidden.0.weight"],
                                      b["hidden.0.bias"], weight.view(-1, 1, 1))
        return stack

    def _forward(self, params, buffers, x):
        return functional_call(self.skeleton, (params, buffers), (x,))

    def _mlp_forward(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """x: (S, B, ...), or (B, ...) for every network when `shared`."""
        h, first = (x.flatten(1) if shared else x.flatten(2)), 0  # (B, D) or (S, B, D)
        if shared and self.first_layer_line is not None:
            w_a, b_a, w_b, b_b, alpha = self.first_layer_line
            z_a, z_b = torch.addmm(b_a, h, w_a.T), torch.addmm(b_b, h, w_b.T)  # (B, width) each
            h = torch.relu(torch.lerp(z_a.expand(self.size, *z_a.shape), z_b.expand(self.size, *z_b.shape), alpha))
            first = 1
        elif shared:
            h = h.expand(self.size, *h.shape)
        for i in range(first, self.mlp_depth):
            w, b = self.params[f"hidden.{i}.weight"], self.params[f"hidden.{i}.bias"]
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2)).relu_()  # (S, B, width)
        return torch.baddbmm(self.params["out.bias"].unsqueeze(1), h, self.params["out.weight"].transpose(1, 2))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: (S, B, ...) one batch per network -> (S, B, classes)."""
        if self.mlp_depth is not None:
            return self._mlp_forward(x)
        return vmap(self._forward)(self.params, self.buffers, x)

    @torch.no_grad()
    def logits_shared(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, ...) the same inputs for every network -> (S, N, classes)."""
        if self.mlp_depth is not None:
            # Small chunks keep S copies of the activations in cache on a CPU.
            step = EVAL_BATCH if x.is_cuda else MLP_CPU_CHUNK
            return torch.cat([self._mlp_forward(x[i:i + step], shared=True) for i in range(0, len(x), step)], dim=1)
        step = max(32, EVAL_BATCH // self.size)  # S copies of every activation are alive at once
        forward = vmap(self._forward, in_dims=(0, 0, None))
        return torch.cat([forward(self.params, self.buffers, x[i:i + step]) for i in range(0, len(x), step)], dim=1)

    def state(self, index: int) -> dict[str, torch.Tensor]:
        """Network `index` as an ordinary CPU state dict."""
        out = {k: v[index].detach().to("cpu", copy=True) for k, v in self.params.items()}
        out |= {k: v[index].to("cpu", copy=True) for k, v in self.buffers.items()}
        return out


def _skeleton(model_config: ModelConfig) -> torch.nn.Module:
    """The module structure only, on the meta device: no memory, no init."""
    with torch.device("meta"):
        return build_model(model_config)


def seed_stack(model_config: ModelConfig, configs: list[TrainConfig], device: torch.device,
               initial_state: dict[str, torch.Tensor] | None = None) -> StackedModel:
    """One freshly initialized network per config (its own init seed), stacked and trainable."""
    models = [init_model(model_config, c.init_seed) for c in configs]
    if initial_state is not None:
        for model in models:
            model.load_state_dict(initial_state)
    params, buffers = stack_module_state(models)  # name -> (S, ...)
    return StackedModel(model_config, {k: v.detach().to(device).requires_grad_() for k, v in params.items()},
                        {k: v.to(device) for k, v in buffers.items()})


def evaluate_stack(stack: StackedModel, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-seed (loss, accuracy) on shared inputs: two (S,) tensors."""
    logits = stack.logits_shared(x)  # (S, N, C)
    loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(stack.size), reduction="none").view(stack.size, -1)
    acc = (logits.argmax(-1) == y).float().mean(1)
    return loss.mean(1), acc


def train_many(
    model_config: ModelConfig,
    configs: list[TrainConfig],
    data: Dataset,
    device: torch.device,
    initial_state: dict[str, torch.Tensor] | None = None,
    on_event: Callable[[int, object], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[TrainResult]:
    """Train len(configs) seeds together; `on_event(seed_index, event)` as in `train`."""
    if not same_but_seeds(configs):
        raise ValueError("vectorized runs must differ only in their seeds")
    config = configs[0].validate()
    emit = on_event or (lambda index, event: None)
    stack = seed_stack(model_config, configs, device, initial_state)
    S, n = stack.size, len(data.x_train)
    optimizer = make_optimizer(stack.params.values(), config)
    steps = math.ceil(n / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config, steps))
    orders = [torch.Generator().manual_seed(c.data_seed) for c in configs]
    checkpoints = [{0: stack.state(i)} if 0 in config.save_epochs else {} for i in range(S)]
    histories: list[list[EpochEnd]] = [[] for _ in range(S)]
    start = time.perf_counter()
    progress = Throttle(PROGRESS_SECONDS)
    for epoch in range(1, config.epochs + 1):
        perms = torch.stack([torch.randperm(n, generator=g) for g in orders]).to(device)  # (S, N)
        loss_sum = torch.zeros(S, device=device)
        correct = torch.zeros(S, device=device)
        for step in range(steps):
            check_stop(should_stop)
            idx = perms[:, step * config.batch_size:(step + 1) * config.batch_size]  # (S, B)
            x, y = data.x_train[idx], data.y_train[idx]  # (S, B, ...), (S, B)
            logits = stack.logits(x)  # (S, B, C)
            losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(S, -1).mean(1)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # seeds are independent: each gets its own mean-loss gradient
            optimizer.step()
            scheduler.step()
            loss_sum += losses.detach() * idx.shape[1]
            correct += (logits.detach().argmax(-1) == y).sum(1)
            if progress.due():
                for i in range(S):
                    emit(i, StepProgress(epoch, step + 1, steps))
        test_loss, test_acc = evaluate_stack(stack, data.x_test, data.y_test)
        seconds = time.perf_counter() - start
        for i in range(S):
            event = EpochEnd(epoch, config.epochs, loss_sum[i].item() / n, correct[i].item() / n,
                             test_loss[i].item(), test_acc[i].item(), seconds)
            histories[i].append(event)
            emit(i, event)
            if epoch in config.save_epochs:
                checkpoints[i][epoch] = stack.state(i)
    return [TrainResult(stack.state(i), histories[i], checkpoints[i]) for i in range(S)]
