"""State dicts as values: mix, average and copy networks' weights.

Pure functions over dicts of tensors, imported by every module that combines networks
(interpolation, averaging, training, the stacked networks). This module imports no
other core module, so none of them depends on another to share these.
"""

from __future__ import annotations

import torch
from torch import nn

StateDict = dict[str, torch.Tensor]


def lerp_state(a: StateDict, b: StateDict, alpha: float) -> StateDict:
    """(1 - alpha) a + alpha b for float tensors; integer buffers (BN counters) from a."""
    return {k: torch.lerp(a[k], b[k], alpha) if a[k].is_floating_point() else a[k].clone() for k in a}


def lerp_states(a: StateDict, b: StateDict, alphas: list[float]) -> StateDict:
    """`lerp_state` at every alpha at once: each tensor gains a leading axis of len(alphas)."""
    out = {}
    for k, v in a.items():
        stacked = v.expand(len(alphas), *v.shape)
        if v.is_floating_point():
            weight = torch.tensor(alphas, dtype=v.dtype, device=v.device).view(-1, *([1] * v.ndim))
            stacked = torch.lerp(stacked, b[k].expand(len(alphas), *v.shape), weight)
        out[k] = stacked.contiguous()
    return out


def mean_state(states: list[StateDict]) -> StateDict:
    """Element-wise mean of float tensors; integer buffers come from the first network."""
    first = states[0]
    return {k: torch.stack([s[k] for s in states]).mean(0) if first[k].is_floating_point() else first[k].clone()
            for k in first}


def cpu_state(model: nn.Module) -> StateDict:
    """A detached CPU copy of the model's state dict: safe to keep while the model trains on."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
