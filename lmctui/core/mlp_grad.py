"""The loss and gradients of S stacked MLPs, by hand: batched matmuls and nothing else.

For an MLP the backward pass is two batched matmuls per layer, so writing it out skips
autograd's graph, its per-node bookkeeping and its allocations: at width 32 those cost more
than the arithmetic. The gradients are the ones autograd computes for the mean
cross-entropy of each network's own batch (tests/test_mlp_grad.py holds them against it).
"""

from __future__ import annotations

import torch


def layer_names(depth: int) -> list[str]:
    """The MLP's layers, input to output, as models.MLP names them."""
    return [f"hidden.{i}" for i in range(depth)] + ["out"]


@torch.no_grad()
def mlp_loss_and_grads(params: dict[str, torch.Tensor], depth: int, x: torch.Tensor,
                       y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """x (S, B, D) and y (S, B): network s's batch is x[s], y[s].

    Returns each network's mean loss (S,), its count of correct predictions (S,), and
    {parameter name: gradient of that network's mean loss} stacked like `params`.

    Activations are kept feature-major, (S, features, B): a CPU's softmax, max and
    scatter over a 10-wide last axis are 10x slower than over a middle one, and every
    matmul then takes a weight as it is stored.
    """
    names = layer_names(depth)
    inputs = [x.transpose(1, 2)]  # each layer's input: x, then every hidden layer's ReLU'd output (S, width, B)
    for name in names[:-1]:
        inputs.append(_affine(params, name, inputs[-1]).relu_())
    logits = _affine(params, names[-1], inputs[-1])  # (S, C, B)
    log_p = logits.log_softmax(1)
    target = y.unsqueeze(1)  # (S, 1, B)
    picked = log_p.gather(1, target).squeeze(1)  # (S, B)
    losses = picked.mean(1).neg_()
    correct = (logits.max(1).indices == y).sum(1)
    grad = log_p.exp_().scatter_add_(1, target, torch.full_like(target, -1, dtype=log_p.dtype))
    grad.div_(y.shape[1])  # d(mean loss) / d(logits): (softmax - one-hot) / B, (S, C, B)
    grads = {}
    for i in reversed(range(len(names))):
        grads[f"{names[i]}.weight"] = torch.bmm(grad, inputs[i].transpose(1, 2))  # (S, out, in)
        grads[f"{names[i]}.bias"] = grad.sum(2)
        if i:  # back through the layer, then through the ReLU that made its input (autograd's own kernel)
            grad = torch.ops.aten.threshold_backward(torch.bmm(params[f"{names[i]}.weight"].transpose(1, 2), grad),
                                                     inputs[i], 0)
    return losses, correct, grads


def _affine(params: dict[str, torch.Tensor], name: str, h: torch.Tensor) -> torch.Tensor:
    """W h + b for feature-major h (S, in, B): (S, out, B)."""
    return torch.baddbmm(params[f"{name}.bias"].unsqueeze(2), params[f"{name}.weight"], h)
