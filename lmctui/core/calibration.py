"""Statistics that must be re-measured after weights are mixed.

- BatchNorm running statistics of an interpolated or averaged network are not the mix
  of the endpoints' statistics, so they are re-estimated on training data
  (otherwise a curve measures a bug, not the landscape).
- REPAIR (Jordan et al. 2022): each unit's pre-activation mean and standard deviation
  are rescaled to the alpha-mix of the endpoints' values, undoing the variance collapse
  of interpolated networks.
"""

from __future__ import annotations

import torch
from torch import nn

from lmctui.choices import TRANSFORMER_ARCHS
from lmctui.core.models import ModelConfig

CALIBRATION_BATCH = 1024


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def repair_modules(config: ModelConfig) -> list[str]:
    """Modules whose outputs are pre-activations with one channel per hidden unit."""
    if config.arch in TRANSFORMER_ARCHS:
        raise ValueError(f"REPAIR applies to MLPs and CNNs; {config.arch} normalizes with LayerNorm")
    from lmctui.core.permutation import HAND_WRITTEN

    if config.arch not in HAND_WRITTEN:  # any other model: where its traced spec observes units
        from lmctui.core.specs import spec_for

        return list(dict.fromkeys(point.module for points in spec_for(config).activations.values()
                                  for point in points))
    if config.arch == "mlp":
        return [f"hidden.{i}" for i in range(config.depth)]
    if config.arch == "vgg":
        from lmctui.core.models import VGG_LAYOUT

        return [f"norms.{i}" for i in range(sum(1 for item in VGG_LAYOUT if item != "M"))]
    names = ["stem_norm"]
    from lmctui.core.models import RESNET_BLOCKS_PER_STAGE, RESNET_STAGE_CHANNELS

    for b in range(len(RESNET_STAGE_CHANNELS) * RESNET_BLOCKS_PER_STAGE):
        names += [f"blocks.{b}.norm1", f"blocks.{b}.norm2"]
        if b % RESNET_BLOCKS_PER_STAGE == 0 and b > 0:
            names.append(f"blocks.{b}.shortcut_norm")
    return names


@torch.no_grad()
def channel_stats(model: nn.Module, modules: list[str], x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel (mean, std) of each named module's output over `x`, in eval mode."""
    sums: dict[str, list] = {name: [0, 0.0, 0.0] for name in modules}
    lookup = dict(model.named_modules())

    def hook_for(name):
        def hook(module, inputs, output):
            units = output.movedim(1, -1).reshape(-1, output.shape[1]).double()  # (samples, C)
            entry = sums[name]
            entry[0] += len(units)
            entry[1] = entry[1] + units.sum(0)
            entry[2] = entry[2] + (units * units).sum(0)
        return hook

    handles = [lookup[name].register_forward_hook(hook_for(name)) for name in modules]
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), CALIBRATION_BATCH):
            model(x[i:i + CALIBRATION_BATCH])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    stats = {}
    for name, (n, s1, s2) in sums.items():
        mean = s1 / n
        stats[name] = (mean, (s2 / n - mean ** 2).clamp_min(0).sqrt())
    return stats


class RepairHook:
    """Rescales a module's output channels to target (mean, std).

    While calibrating it normalizes with the batch's own statistics and accumulates
    the data-wide ones (as BatchNorm does in train mode); afterwards it uses those.
    """

    def __init__(self, target_mean: torch.Tensor, target_std: torch.Tensor):
        self.target_mean, self.target_std = target_mean.float(), target_std.float()
        self.calibrating = True
        self.n, self.s1, self.s2 = 0, 0.0, 0.0
        self.mean = self.std = None

    def __call__(self, module, inputs, output):
        shape = (1, -1) + (1,) * (output.ndim - 2)
        if self.calibrating:
            units = output.movedim(1, -1).reshape(-1, output.shape[1]).double()
            self.n += len(units)
            self.s1 = self.s1 + units.sum(0)
            self.s2 = self.s2 + (units * units).sum(0)
            mean = units.mean(0).float()
            std = units.var(0, unbiased=False).sqrt().float()
        else:
            mean, std = self.mean, self.std
        scale = self.target_std.to(output.device) / (std.to(output.device) + 1e-5)
        return (output - mean.view(shape)) * scale.view(shape) + self.target_mean.to(output.device).view(shape)

    def finish(self) -> None:
        mean = self.s1 / self.n
        self.mean = mean.float()
        self.std = (self.s2 / self.n - mean ** 2).clamp_min(0).sqrt().float()
        self.calibrating = False


@torch.no_grad()
def recalibrate(model: nn.Module, x: torch.Tensor, reset_bn: bool = True,
                repair_targets: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> list:
    """Re-estimate BatchNorm statistics and/or install REPAIR on `model`, in one pass over `x`.

    Returns the forward-hook handles REPAIR installed (they stay on the model).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if reset_bn else []
    lookup = dict(model.named_modules())
    hooks = {name: RepairHook(*target) for name, target in (repair_targets or {}).items()}
    handles = [lookup[name].register_forward_hook(hook) for name, hook in hooks.items()]
    if not norms and not hooks:
        return handles
    saved = [(m, m.momentum) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over every calibration batch
    model.eval()
    for m in norms:
        m.train()
    for i in range(0, len(x), CALIBRATION_BATCH):
        model(x[i:i + CALIBRATION_BATCH])
    for m, momentum in saved:
        m.momentum = momentum
    model.eval()
    for hook in hooks.values():
        hook.finish()
    return handles


Stats = dict[str, tuple[torch.Tensor, torch.Tensor]]  # module name -> per-channel (mean, std)


def mean_stats(stats: list[Stats]) -> Stats:
    """Per module, the mean over networks of each channel's (mean, std): REPAIR's target
    for the average of K aligned networks (the alpha-mix at alpha = 1/K each)."""
    return {name: (torch.stack([s[name][0] for s in stats]).mean(0), torch.stack([s[name][1] for s in stats]).mean(0))
            for name in stats[0]}


@torch.no_grad()
def fold_repair(model: nn.Module, modules: list[str], targets: dict[str, tuple[torch.Tensor, torch.Tensor]],
                x: torch.Tensor) -> None:
    """REPAIR written into `model`'s weights, so the repaired network is a plain state dict.

    Module by module, in forward order, each output channel's mean and std over `x` (eval
    mode) are measured and the affine map taking them to the target is folded into the
    module (Linear, BatchNorm and GroupNorm affine) or, for an identity norm, into the
    convolution before it. Later modules are measured after earlier ones are repaired, so
    every module ends with exactly its target statistics on `x`.
    """
    lookup = dict(model.named_modules())
    for name in modules:
        mean, std = channel_stats(model, [name], x)[name]
        target_mean, target_std = (t.to(mean) for t in targets[name])
        scale = target_std / (std + 1e-5)
        shift = target_mean - scale * mean  # y' = scale * y + shift
        _fold_affine(_foldable(lookup, name), scale, shift)


def _foldable(lookup: dict[str, nn.Module], name: str) -> nn.Module:
    module = lookup[name]
    if isinstance(module, nn.Identity):
        # No norm layer: the convolution before it (norms.i -> convs.i, stem_norm -> stem_conv, ...) has a bias.
        module = lookup.get(name.replace("norm", "conv"))
    if not isinstance(module, (nn.Linear, nn.Conv2d, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) or \
            getattr(module, "bias", None) is None or module.weight is None:
        raise ValueError(f"REPAIR cannot be written into module {name!r} (no per-channel weight and bias)")
    return module


def _fold_affine(module: nn.Module, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """Make `module`'s output channels y become scale * y + shift."""
    shape = (-1,) + (1,) * (module.weight.ndim - 1)
    module.weight.mul_(scale.to(module.weight).view(shape))
    module.bias.copy_(scale.to(module.bias) * module.bias + shift.to(module.bias))
