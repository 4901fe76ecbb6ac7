"""S networks of one architecture as stacked tensors (leading axis S), run at once.

Two kinds of stack share the forward pass:
- `StackedModel`: any S networks, e.g. S seeds trained together (vectorized.py);
- `LineStack`: the S networks (1 - alpha) A + alpha B on a line (interpolation.py),
  which knows a shortcut for an MLP's first layer, and on a CPU runs an MLP one alpha
  at a time over all the samples.
"""

from __future__ import annotations

import torch
from torch.func import functional_call, vmap

from lmctui.core.evaluation import EVAL_BATCH
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.weights import StateDict, lerp_states

# On a CPU a stack of MLPs (seeds) is evaluated in chunks of samples whose activations, for every
# network at once, stay near this many floats (3.3 MB, about the caches of a 2-core CPU): at width
# 256 and 25 networks, 128 samples a chunk beat 256 by 15 % and 2,048 by 50 % (benchmarks/).
MLP_CPU_CHUNK_FLOATS = 25 * 128 * 256


class StackedModel:
    """S networks of one architecture as stacked tensors (leading axis S)."""

    def __init__(self, model_config: ModelConfig, params: dict[str, torch.Tensor],
                 buffers: dict[str, torch.Tensor]):
        self.skeleton = _skeleton(model_config)
        self.params, self.buffers = params, buffers
        self.size = len(next(iter(params.values())))
        # MLPs skip vmap: a chain of batched matmuls has far less per-step overhead.
        self.mlp_depth = model_config.depth if model_config.arch == "mlp" else None

    @classmethod
    def from_states(cls, model_config: ModelConfig, stacked: StateDict) -> "StackedModel":
        """From a state dict whose every tensor has the leading axis S."""
        names = {n for n, _ in _skeleton(model_config).named_parameters()}
        return cls(model_config, {k: v for k, v in stacked.items() if k in names},
                   {k: v for k, v in stacked.items() if k not in names})

    def _forward(self, params, buffers, x):
        return functional_call(self.skeleton, (params, buffers), (x,))

    def _first_hidden_shared(self, h: torch.Tensor) -> torch.Tensor:
        """The first hidden layer's ReLU'd output for inputs (B, D) shared by all: (S, B, width)."""
        h = h.expand(self.size, *h.shape)
        return torch.baddbmm(self.params["hidden.0.bias"].unsqueeze(1), h,
                             self.params["hidden.0.weight"].transpose(1, 2)).relu_()

    def _mlp_forward(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """x: (S, B, ...), or (B, ...) for every network when `shared`."""
        if shared:
            h, first = self._first_hidden_shared(x.flatten(1)), 1  # (S, B, width)
        else:
            h, first = x.flatten(2), 0  # (S, B, D)
        for i in range(first, self.mlp_depth):
            w, b = self.params[f"hidden.{i}.weight"], self.params[f"hidden.{i}.bias"]
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2)).relu_()  # (S, B, width)
        return torch.baddbmm(self.params["out.bias"].unsqueeze(1), h, self.params["out.weight"].transpose(1, 2))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: (S, B, ...) one batch per network -> (S, B, classes)."""
        if self.mlp_depth is not None:
            return self._mlp_forward(x)
        return vmap(self._forward, randomness="different")(self.params, self.buffers, x)  # dropout: its own mask per seed

    @torch.no_grad()
    def logits_shared(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, ...) the same inputs for every network -> (S, N, classes)."""
        if self.mlp_depth is not None:
            width = self.params["hidden.0.weight"].shape[1]
            step = EVAL_BATCH if x.is_cuda else max(32, MLP_CPU_CHUNK_FLOATS // (self.size * width))
            return torch.cat([self._mlp_forward(x[i:i + step], shared=True) for i in range(0, len(x), step)], dim=1)
        step = max(32, EVAL_BATCH // self.size)  # S copies of every activation are alive at once
        forward = vmap(self._forward, in_dims=(0, 0, None))
        return torch.cat([forward(self.params, self.buffers, x[i:i + step]) for i in range(0, len(x), step)], dim=1)

    def state(self, index: int) -> StateDict:
        """Network `index` as an ordinary CPU state dict."""
        out = {k: v[index].detach().to("cpu", copy=True) for k, v in self.params.items()}
        out |= {k: v[index].to("cpu", copy=True) for k, v in self.buffers.items()}
        return out


class LineStack(StackedModel):
    """The networks (1 - alpha) a + alpha b for every alpha, stacked.

    An MLP's first layer is linear in its weights, so its pre-activations on the line
    are the same mix of the endpoints' pre-activations: two matmuls instead of one per
    alpha.
    """

    def __init__(self, model_config: ModelConfig, a: StateDict, b: StateDict, alphas: list[float]):
        stacked = lerp_states(a, b, alphas)
        names = {n for n, _ in _skeleton(model_config).named_parameters()}
        super().__init__(model_config, {k: v for k, v in stacked.items() if k in names},
                         {k: v for k, v in stacked.items() if k not in names})
        self.alphas = list(alphas)
        if self.mlp_depth is not None:
            self.endpoints = (a["hidden.0.weight"], a["hidden.0.bias"], b["hidden.0.weight"], b["hidden.0.bias"])
            weight = a["hidden.0.weight"]
            self.alpha_weights = torch.tensor(alphas, dtype=weight.dtype, device=weight.device).view(-1, 1, 1)

    def _first_hidden_shared(self, h: torch.Tensor) -> torch.Tensor:
        z_a, z_b = self._endpoint_pre_activations(h)  # (B, width) each
        return torch.relu(torch.lerp(z_a.expand(self.size, *z_a.shape), z_b.expand(self.size, *z_b.shape),
                                     self.alpha_weights))  # (S, B, width)

    def _endpoint_pre_activations(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w_a, b_a, w_b, b_b = self.endpoints
        return torch.addmm(b_a, h, w_a.T), torch.addmm(b_b, h, w_b.T)

    @torch.no_grad()
    def logits_shared(self, x: torch.Tensor) -> torch.Tensor:
        """As StackedModel's; an MLP on a CPU goes one alpha at a time over all the samples.

        One (N, width) @ (width, width) matmul per alpha runs near a CPU's peak, where a batched
        matmul of 25 alphas' small chunks does not: at width 256 on 1,438 digits 60 ms against
        81, at width 16 on moons 0.6 ms against 1.9 (one thread; benchmarks/). The logits are
        the chunked path's, bit for bit.
        """
        if self.mlp_depth is None or x.is_cuda:
            return super().logits_shared(x)
        z_a, z_b = self._endpoint_pre_activations(x.flatten(1))  # (N, width) each
        logits = []
        for s, alpha in enumerate(self.alphas):
            h = torch.lerp(z_a, z_b, alpha).relu_()
            for i in range(1, self.mlp_depth):
                h = torch.addmm(self.params[f"hidden.{i}.bias"][s], h, self.params[f"hidden.{i}.weight"][s].T).relu_()
            logits.append(torch.addmm(self.params["out.bias"][s], h, self.params["out.weight"][s].T))  # (N, C)
        return torch.stack(logits)  # (S, N, C)


def _skeleton(model_config: ModelConfig) -> torch.nn.Module:
    """The module structure only, on the meta device: no memory, no init."""
    with torch.device("meta"):
        return build_model(model_config)


def evaluate_stack(stack: StackedModel, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-network (loss, accuracy) on shared inputs: two (S,) tensors."""
    # (S, C, N): a CPU's softmax and max over a 10-wide last axis are 10x slower than over a middle one
    logits = stack.logits_shared(x).transpose(1, 2).contiguous()
    loss = -logits.log_softmax(1).gather(1, y.expand(stack.size, 1, -1)).squeeze(1)  # (S, N)
    acc = (logits.max(1).indices == y).float().mean(1)  # the first maximum, as argmax
    return loss.mean(1), acc
