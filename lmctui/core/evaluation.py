"""Loss and accuracy of a model on a split, in eval mode, in large batches."""

from __future__ import annotations

import torch
from torch import nn

EVAL_BATCH = 2048


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    was_training = model.training
    model.eval()
    logits = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return logits  # (N, classes)


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of logits (N, classes), computed class-major: a CPU's
    softmax and max across a 10-wide last axis are several times slower than across rows."""
    by_class = logits.T.contiguous()  # (classes, N)
    loss = -by_class.log_softmax(0).gather(0, y.unsqueeze(0)).mean().item()
    acc = (by_class.max(0).indices == y).float().mean().item()  # the first maximum, as argmax
    return loss, acc


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on (x, y)."""
    return loss_and_accuracy(predict_logits(model, x), y)
