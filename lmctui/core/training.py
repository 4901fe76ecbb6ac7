"""Train one network: SGD or Adam, warm-up and cosine schedule, seeded init and data order.

The init seed and the data-order seed are separate, so two runs can share an
initialization and differ only in the order they see the examples (or the reverse).
Progress leaves through `on_event`; cancellation comes in through `should_stop`,
checked between batches.

After every epoch `on_checkpoint(epoch, capture)` is offered the training state; `capture()`
copies it out as `TrainState`s (model, optimizer, schedule, data order, history), and
`train(..., resume=state)` continues from one exactly as if training had never stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from lmctui.core.data import Dataset
from lmctui.core.evaluation import evaluate
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.optim import Optimizer, lr_factor  # noqa: F401  (lr_factor: re-exported for callers)
from lmctui.core.stopping import Cancelled, check_stop
from lmctui.core.weights import cpu_state
from lmctui.configs import TrainConfig


@dataclass(frozen=True)
class StepProgress:
    epoch: int  # 1-based epoch being trained
    step: int  # steps done in this epoch
    steps: int  # steps per epoch


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    epochs: int
    train_loss: float  # running: mean over the epoch's batches, in train mode, as the weights moved
    train_acc: float  # running, as train_loss
    test_loss: float  # evaluated: eval mode, the whole test set, the epoch's final weights
    test_acc: float
    seconds: float  # wall time since training started
    # Evaluated like test_loss, on the whole train set: at the final epoch only (else None).
    eval_train_loss: float | None = None
    eval_train_acc: float | None = None

    def to_dict(self) -> dict:
        # its fields are numbers: `asdict`'s recursive deep copy would cost 64 seeds' training a few ms an epoch
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class TrainState:
    """Everything that continues a training where it stood after `epoch` epochs and `step`
    batches of the next one (CPU copies).

    Resuming from it gives the very weights an uninterrupted training gives: the optimizer's
    moments and step, the schedule's position and the data-order generator all come back.
    A state taken mid-epoch (when training was told to stop) also keeps that epoch's
    running sums, so its EpochEnd is the same too.
    """

    epoch: int  # epochs done
    model: dict[str, torch.Tensor]  # the state dict (parameters and buffers)
    optimizer: dict[str, dict[str, torch.Tensor]]  # parameter name -> its state (momentum, Adam's moments, step)
    optimizer_groups: list[dict]  # the hyper-parameters as torch.optim's param_groups name them (the lr of the moment)
    scheduler: dict  # the schedule's position, as LambdaLR's state_dict names it ("last_epoch": steps taken)
    data_order: torch.Tensor  # the data-order generator's state, before the next epoch's shuffle
    history: list["EpochEnd"]
    step: int = 0  # batches of epoch `epoch + 1` done (data_order is then the state before its shuffle)
    running: tuple[float, float] = (0.0, 0.0)  # that epoch's loss sum and correct count over those batches

    @property
    def finite(self) -> bool:
        """Whether no epoch so far had a non-finite loss (a diverged run keeps no weights after it)."""
        return all(math.isfinite(e.train_loss) for e in self.history)


# offered after each epoch (and at epoch 0 of a fresh start): (epoch, capture) -> None; capture()
# copies out the state of every network being trained, in order
Checkpointer = Callable[[int, Callable[[], "list[TrainState]"]], None]


@dataclass
class TrainResult:
    state_dict: dict[str, torch.Tensor]  # on the CPU
    history: list[EpochEnd]
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

    @property
    def train_loss(self) -> float:
        """The final weights' train loss, evaluated as curves evaluate it (eval mode, whole train set)."""
        return self.history[-1].eval_train_loss

    @property
    def train_acc(self) -> float:
        return self.history[-1].eval_train_acc

    @property
    def train_loss_running(self) -> float:
        """The last epoch's running mean over its batches, in train mode."""
        return self.history[-1].train_loss

    @property
    def train_acc_running(self) -> float:
        return self.history[-1].train_acc


PROGRESS_SECONDS = 0.1  # step progress more often than this only costs time


class Throttle:
    """True at most once per `seconds`: keeps per-step progress events cheap."""

    def __init__(self, seconds: float):
        self.seconds, self.last = seconds, -float("inf")

    def due(self) -> bool:
        now = time.perf_counter()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


def init_model(model_config: ModelConfig, init_seed: int) -> nn.Module:
    """The model's initial weights depend only on (config, init_seed), on any device."""
    return build_model(model_config, torch.Generator().manual_seed(init_seed))


def train(
    model_config: ModelConfig,
    config: TrainConfig,
    data: Dataset,
    device: torch.device,
    initial_state: dict[str, torch.Tensor] | None = None,
    on_event: Callable[[object], None] | None = None,
    should_stop: Callable[[], str | None] | None = None,  # None to go on, else the status to record
    resume: TrainState | None = None,  # continue from here (initial_state is then ignored)
    on_checkpoint: Checkpointer | None = None,
) -> TrainResult:
    """Train one network on `data` (already on `device`); return its final CPU weights."""
    config.validate()
    emit = on_event or (lambda event: None)
    model = init_model(model_config, config.init_seed)
    start_state = resume.model if resume is not None else initial_state
    if start_state is not None:
        model.load_state_dict(start_state)
    model.to(device)
    steps = math.ceil(len(data.x_train) / config.batch_size)
    names, params = zip(*model.named_parameters())
    optimizer = Optimizer(params, config, steps)
    order = torch.Generator().manual_seed(config.data_seed)
    [history] = restore([resume] if resume is not None else None, optimizer, names, [order])
    first = len(history) + 1
    offer = on_checkpoint or (lambda epoch, capture: None)

    def capture(step: int = 0, before_shuffle: torch.Tensor | None = None, running=(0.0, 0.0)) -> list[TrainState]:
        return [TrainState(len(history), cpu_state(model), optimizer_state(optimizer, names), optimizer.groups(),
                           optimizer.schedule(), order.get_state() if before_shuffle is None else before_shuffle,
                           list(history), step, running)]

    checkpoints = {0: cpu_state(model)} if 0 in config.save_epochs and resume is None else {}
    if resume is None:
        offer(0, capture)
    start = time.perf_counter() - (history[-1].seconds if history else 0.0)
    progress = Throttle(PROGRESS_SECONDS)
    for epoch in range(first, config.epochs + 1):
        model.train()
        before_shuffle = order.get_state()
        perm = torch.randperm(len(data.x_train), generator=order).to(device)
        begin, running = (resume.step, resume.running) if resume is not None and epoch == first else (0, (0.0, 0.0))
        loss_sum = torch.full((), running[0], device=device)
        correct = torch.full((), running[1], device=device)
        for step in range(begin, steps):
            stop_point(should_stop, lambda: capture(step, before_shuffle, (loss_sum.item(), correct.item())))
            idx = perm[step * config.batch_size:(step + 1) * config.batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            logits = model(x)  # (B, classes)
            loss = F.cross_entropy(logits, y)
            grads = torch.autograd.grad(loss, params)
            optimizer.step(grads)
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
            if progress.due():
                emit(StepProgress(epoch, step + 1, steps))
        n = len(data.x_train)
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
        final = evaluate(model, data.x_train, data.y_train) if epoch == config.epochs else (None, None)
        event = EpochEnd(epoch, config.epochs, loss_sum.item() / n, correct.item() / n,
                         test_loss, test_acc, time.perf_counter() - start, *final)
        history.append(event)
        emit(event)
        if not math.isfinite(event.train_loss):
            break  # diverged: every later epoch would only carry NaN
        if epoch in config.save_epochs:
            checkpoints[epoch] = cpu_state(model)
        offer(epoch, capture)
    return TrainResult(cpu_state(model), history, checkpoints)


def stop_point(should_stop: Callable[[], object] | None, capture: Callable[[], list[TrainState]]) -> None:
    """Between two batches: if told to stop, raise Cancelled carrying `capture`, which copies out
    the state of every network as it stands (the caller may write it, to resume from it)."""
    try:
        check_stop(should_stop)
    except Cancelled as stop:
        stop.capture = capture
        raise


def _copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", copy=True)


def optimizer_state(optimizer: Optimizer, names: list[str],
                    take: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> dict[str, dict[str, torch.Tensor]]:
    """Parameter name -> CPU copy of `take(tensor)` for each of its optimizer state tensors.

    `names` are the parameters' names in the optimizer's order; `take` picks one network's
    part of a stacked tensor.
    """
    return {name: {key: _copy(take(value)) for key, value in per_param.items()}
            for name, per_param in zip(names, optimizer.state) if per_param}


def restore(resume: list[TrainState] | None, optimizer: Optimizer, names: list[str],
            orders: list[torch.Generator], stacked: bool = False) -> list[list[EpochEnd]]:
    """Put back the optimizer, schedule and data orders of `resume` (one state per network; `stacked`:
    the networks are one stack, their optimizer tensors joined along its leading axis); return
    each network's history so far."""
    if not resume:
        return [[] for _ in orders]
    state = _stack_optimizer([r.optimizer for r in resume]) if stacked else resume[0].optimizer
    optimizer.load([state.get(name, {}) for name in names], resume[0].scheduler)
    for order, state in zip(orders, resume):
        order.set_state(state.data_order)
    return [list(state.history) for state in resume]


def _stack_optimizer(states: list[dict]) -> dict:
    """Per-network optimizer states joined along a new leading axis; a scalar (Adam's step) is shared."""
    return {name: {key: value if value.dim() == 0 else torch.stack([s[name][key] for s in states])
                   for key, value in per_param.items()} for name, per_param in states[0].items()}
