"""SGD and Adam with the warm-up and cosine schedule, computed as torch.optim computes them.

No `torch.optim.Optimizer` is ever constructed: its methods import `torch._dynamo` on first
use (1 to 1.7 s of a short command's start-up). The functions its `step` calls do not, so
lmctui keeps the state (momentum buffers, Adam's moments and step) and calls
`torch.optim.adam.adam`; SGD's step is written out as the foreach ops that
`torch.optim.sgd`'s multi-tensor path runs, without its per-step grouping of tensors by
device (a tenth of a millisecond, a twentieth of a 64-seed step at width 32). Both give
torch.optim's arithmetic bit for bit (tests/test_optim.py). The schedule is `lr_factor`, as LambdaLR applies it: step t
(0-based) uses the base learning rate times `lr_factor(t)`.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch.optim.adam import adam

from lmctui.configs import TrainConfig

ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults
ADAM_EPS = 1e-8


def lr_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at optimizer step `t` (0-based)."""
    warmup = config.warmup_epochs * steps_per_epoch
    total = config.epochs * steps_per_epoch

    def factor(t: int) -> float:
        if t < warmup:
            return (t + 1) / warmup
        if config.schedule == "cosine":
            progress = (t - warmup) / max(1.0, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor


class Optimizer:
    """The optimizer and schedule of one training, over `params` (updated in place by `step`)."""

    def __init__(self, params: list[torch.Tensor], config: TrainConfig, steps_per_epoch: int):
        self.params, self.config = list(params), config
        self.base_lr = config.learning_rate
        self.factor = lr_factor(config, steps_per_epoch)
        self.steps = 0  # steps taken: the schedule's position
        # per parameter, in order: SGD's "momentum_buffer"; Adam's "step", "exp_avg", "exp_avg_sq"
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]

    @property
    def lr(self) -> float:
        return self.base_lr * self.factor(self.steps)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        """One update of every parameter by its gradient (in `params`' order)."""
        c = self.config
        if c.optimizer == "adam":
            for state, p in zip(self.state, self.params):
                if not state:
                    state.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            adam(self.params, grads, self._column("exp_avg"), self._column("exp_avg_sq"), [], self._column("step"),
                 foreach=True, amsgrad=False, beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1],
                 lr=self.lr, weight_decay=c.weight_decay, eps=ADAM_EPS, maximize=False)
        else:
            self._sgd(grads)
        self.steps += 1

    def _sgd(self, grads: list[torch.Tensor]) -> None:
        """torch.optim.sgd's multi-tensor step (no dampening, no Nesterov), op for op."""
        c = self.config
        if c.weight_decay:
            grads = torch._foreach_add(grads, self.params, alpha=c.weight_decay)
        if c.momentum:
            if self.state[0]:
                buffers = self._column("momentum_buffer")
                torch._foreach_mul_(buffers, c.momentum)
                torch._foreach_add_(buffers, grads, alpha=1.0)
            else:  # the first step: the buffers start as the gradients
                buffers = [g.detach().clone() for g in grads]
                for state, buffer in zip(self.state, buffers):
                    state["momentum_buffer"] = buffer
            grads = buffers
        torch._foreach_add_(self.params, grads, alpha=-self.lr)

    def _column(self, key: str) -> list[torch.Tensor]:
        return [state[key] for state in self.state]

    def groups(self) -> list[dict]:
        """The hyper-parameters of the moment, as torch.optim's param_groups name them (resume files keep them)."""
        c = self.config
        group = {"lr": self.lr, "initial_lr": self.base_lr, "weight_decay": c.weight_decay}
        group |= {"betas": list(ADAM_BETAS), "eps": ADAM_EPS} if c.optimizer == "adam" else {"momentum": c.momentum}
        return [group]

    def schedule(self) -> dict:
        """The schedule's position, as LambdaLR's state_dict names it."""
        return {"base_lrs": [self.base_lr], "last_epoch": self.steps, "_step_count": self.steps + 1,
                "_last_lr": [self.lr]}

    def load(self, state: list[dict[str, torch.Tensor]], schedule: dict) -> None:
        """Put back per-parameter states (moved to their parameters' devices) and the schedule's position."""
        self.state = [{key: value.to(p.device) if key != "step" else value.to("cpu", torch.float32)
                       for key, value in per_param.items()} for per_param, p in zip(state, self.params)]
        self.steps = int(schedule["last_epoch"])
