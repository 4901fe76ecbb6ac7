"""Check a permutation spec against the model itself: a permuted network is the same function.

`verify_spec` draws a random permutation of every group the spec allows, applies it to
the weights and compares the outputs in float64 on a random input. Any spec, traced or
hand-written, that permutes something it must not (or misses something it must) fails,
and the first weight that breaks it is named: the first module, in execution order, whose
output is not its original output permuted as the spec says.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from lmctui.core.permutation import Joined, PermutationSpec, Permutations, apply_permutation, random_perms
from lmctui.errors import UserError

RELATIVE_TOLERANCE = 1e-6  # float64 leaves ~1e-15; anything above 1e-6 is a wrong spec, not rounding


class SpecRefused(UserError):
    """A permutation spec that changes what the model computes."""


@dataclass(frozen=True)
class SpecCheck:
    ok: bool
    first_bad: str | None  # the first weight whose permutation breaks the function
    max_rel_error: float  # max |y - y_permuted| / max |y|

    def require(self) -> None:
        """Raise SpecRefused (one line, naming the weight) unless the spec passed."""
        if not self.ok:
            raise SpecRefused(f"the permutation spec changes the model's outputs (relative error "
                              f"{self.max_rel_error:.1e}); the first weight that breaks it: {self.first_bad}")


@torch.no_grad()
def verify_spec(spec: PermutationSpec, model: nn.Module, example: torch.Tensor, seed: int = 0) -> SpecCheck:
    """Whether a random permutation from `spec` leaves `model`'s outputs unchanged (float64)."""
    generator = torch.Generator().manual_seed(seed)
    original = _every_weight_matters(copy.deepcopy(model).to(torch.float64).eval(), generator)
    state = original.state_dict()
    spec.check_covers(state)
    perms = random_perms(spec, state, generator)
    permuted = apply_permutation(spec, perms, state)
    x = torch.randn(example.shape, generator=generator, dtype=torch.float64) \
        if example.is_floating_point() else example
    with _ModuleOutputs(original) as outs_a:
        y_a = _tensor(original(x))
    with _ModuleOutputs(original) as outs_b:  # the same module, run on the permuted weights
        y_b = _tensor(torch.func.functional_call(original, permuted, (x,), tie_weights=False))
    error = float((y_a - y_b).abs().max() / y_a.abs().max().clamp_min(1e-300))
    ok = error <= RELATIVE_TOLERANCE
    return SpecCheck(ok, None if ok else _first_bad(spec, perms, original, outs_a, outs_b), error)


@torch.no_grad()
def _every_weight_matters(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """`model` with every constant float weight and buffer made random, in place.

    A fresh model has constant tensors (BatchNorm weights of one, zero biases, running
    means of zero): a spec that forgets to permute one would pass on it and fail on
    trained weights. Positive ones (running variances) stay positive.
    """
    for value in [*model.parameters(), *model.buffers()]:
        if not value.is_floating_point() or value.numel() < 2:
            continue
        low, high = value.aminmax()
        if low != high:
            continue  # already differs from unit to unit
        noise = torch.empty(value.shape, dtype=value.dtype).uniform_(0.5, 1.5, generator=generator)
        if low > 0:
            value.mul_(noise)
        else:
            value.add_(noise - 1.0)
    return model


def _tensor(output) -> torch.Tensor:
    """The model's output as one float64 vector (tuples and dicts of tensors flattened)."""
    if isinstance(output, torch.Tensor):
        return output.double().flatten()
    items = output.values() if isinstance(output, dict) else output
    return torch.cat([_tensor(item) for item in items])


class _ModuleOutputs(dict):
    """module name -> its output, for modules with a `weight` that run once per forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.handles, self.calls = model, [], {}

    def __enter__(self):
        for name, module in self.model.named_modules():
            if isinstance(getattr(module, "weight", None), torch.Tensor):
                self.handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.calls[name] = self.calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor):
                self[name] = output
        return hook

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()


def _first_bad(spec: PermutationSpec, perms: Permutations, model: nn.Module, outs_a: _ModuleOutputs,
               outs_b: _ModuleOutputs) -> str:
    """The first module whose output is not the original permuted by its weight's axis 0."""
    for name in outs_a:  # hooks fire in execution order, so dict order is execution order
        key = f"{name}.weight" if name else "weight"
        if outs_a.calls.get(name) != 1 or key not in spec.axes or not spec.axes[key]:
            continue
        expected, found = outs_a[name], outs_b[name]
        perm = spec.axes[key][0]
        if perm is not None:
            index = perm.index(perms) if isinstance(perm, Joined) else perms[perm]
            axis = _unit_axis(expected, len(index), model.get_submodule(name))
            if axis is None:
                continue
            expected = expected.index_select(axis, index)
        scale = expected.abs().max().clamp_min(1e-300)
        if float((expected - found).abs().max() / scale) > RELATIVE_TOLERANCE:
            return _bad_parameter(spec, key)
    return next(iter(spec.matched_keys), "(no weight)")


def _unit_axis(output: torch.Tensor, units: int, module: nn.Module) -> int | None:
    """The axis of a module's output that holds its weight's output units."""
    if isinstance(module, (nn.Linear, nn.LayerNorm, nn.Embedding)):
        axis = output.dim() - 1
    else:
        axis = 1 if output.dim() > 1 else 0
    return axis if output.shape[axis] == units else None


def _bad_parameter(spec: PermutationSpec, weight_key: str) -> str:
    """Within the failing module, a 1-D entry permuted unlike the weight's outputs, else the weight."""
    prefix, out = weight_key[:-len("weight")], spec.axes[weight_key][0]
    for key, axes in spec.axes.items():
        if key.startswith(prefix) and key != weight_key and len(axes) == 1 \
                and "." not in key[len(prefix):] and axes[0] != out:
            return key
    return weight_key
