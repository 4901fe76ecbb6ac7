"""The architectures lmctui studies, each rebuilt from a small `ModelConfig`.

State-dict names are chosen so that permutation specs (permutation.py) can name every
weight: `hidden.{i}` / `out` for the MLP, `convs.{i}` / `norms.{i}` / `head` for VGG,
`stem_*`, `blocks.{i}.*` and `head` for ResNet-20; the transformers (ViT, GPT) live in
transformers.py.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from lmctui.configs import ModelConfig
from lmctui.core.transformers import GPT, ViT, reset_embeddings
from lmctui.usermodel import build_user_model


# VGG: output channels per conv at width 1; "M" is a 2x2 max-pool. Three pools take
# 8x8 digits to 1x1 and 32x32 CIFAR to 4x4 before the global average pool.
VGG_LAYOUT = (16, "M", 32, "M", 64, 64, "M")
RESNET_STAGE_CHANNELS = (16, 32, 64)  # times the width multiplier
RESNET_BLOCKS_PER_STAGE = 3  # 3 stages x 3 blocks x 2 convs + stem + head = 20 layers


def build_model(config: ModelConfig, generator: torch.Generator | None = None) -> nn.Module:
    """A fresh model for `config`, initialized from `generator` (thread-safe, no global RNG)."""
    config.validate()
    if config.user:
        return build_user(config, generator)
    model = ARCHITECTURES[config.arch](config)
    if generator is not None:
        reset_parameters(model, generator)
    return model


ARCHITECTURES = {
    "mlp": lambda c: MLP(math.prod(c.input_shape), c.width, c.depth, c.num_classes),
    "vgg": lambda c: VGG(c.input_shape[0], c.width, c.norm, c.num_classes),
    "resnet20": lambda c: ResNet20(c.input_shape[0], c.width, c.norm, c.num_classes),
    "vit": ViT,
    "gpt": GPT,
}


def build_user(config: ModelConfig, generator: torch.Generator | None = None) -> nn.Module:
    """The user's factory called for `config`; with `generator`, its init is drawn from a seed taken from it
    (a user's layers may be of any kind, so they initialize themselves, from that seed)."""
    seed = None if generator is None else int(torch.randint(2**62, (1,), generator=generator))
    return build_user_model(config.arch, config.input_shape, config.num_classes, config.arch_args, config.width,
                            seed, config.source_sha256)


@torch.no_grad()
def reset_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default init for Linear and Conv (Kaiming-uniform), drawn from `generator`;
    transformers' embeddings and LayerNorms as `reset_embeddings` says."""
    for module in model.modules():
        if reset_embeddings(module, generator):
            continue
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class MLP(nn.Module):
    def __init__(self, in_features: int, width: int, depth: int, num_classes: int):
        super().__init__()
        sizes = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, D)
        for layer in self.hidden:
            x = F.relu(layer(x))  # (B, width)
        return self.out(x)  # (B, classes)


def make_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        # GroupNorm with one group normalizes over (C, H, W) per example with a
        # per-channel affine: LayerNorm for conv nets, and permutation-equivariant.
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class VGG(nn.Module):
    def __init__(self, in_channels: int, width: int, norm: str, num_classes: int):
        super().__init__()
        self.pool_after = []  # indices of convs followed by a max-pool
        convs, norms, channels = [], [], in_channels
        for item in VGG_LAYOUT:
            if item == "M":
                self.pool_after.append(len(convs) - 1)
                continue
            out = item * width
            convs.append(nn.Conv2d(channels, out, 3, padding=1, bias=norm == "none"))
            norms.append(make_norm(norm, out))
            channels = out
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = F.relu(norm(conv(x)))  # (B, C_i, H, W)
            if i in self.pool_after:
                x = F.max_pool2d(x, 2) if min(x.shape[-2:]) >= 2 else x
        x = x.mean(dim=(2, 3))  # (B, C)
        return self.head(x)


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, norm: str):
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=bias)
        self.norm1 = make_norm(norm, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=bias)
        self.norm2 = make_norm(norm, out_channels)
        self.downsample = stride != 1 or in_channels != out_channels
        if self.downsample:
            self.shortcut_conv = nn.Conv2d(in_channels, out_channels, 1, stride, bias=bias)
            self.shortcut_norm = make_norm(norm, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        skip = self.shortcut_norm(self.shortcut_conv(x)) if self.downsample else x
        return F.relu(out + skip)


class ResNet20(nn.Module):
    def __init__(self, in_channels: int, width: int, norm: str, num_classes: int):
        super().__init__()
        channels = [c * width for c in RESNET_STAGE_CHANNELS]
        self.stem_conv = nn.Conv2d(in_channels, channels[0], 3, 1, 1, bias=norm == "none")
        self.stem_norm = make_norm(norm, channels[0])
        blocks, current = [], channels[0]
        for stage, out in enumerate(channels):
            for b in range(RESNET_BLOCKS_PER_STAGE):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(current, out, stride, norm))
                current = out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(current, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_norm(self.stem_conv(x)))
        for block in self.blocks:
            x = block(x)  # (B, C_stage, H, W)
        return self.head(x.mean(dim=(2, 3)))
