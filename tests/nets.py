"""Small networks for the permutation, matching and interpolation tests."""

import torch
from torch import nn

from lmctui.core.models import ModelConfig, build_model

CONFIGS = [
    ModelConfig("mlp", 12, 1, "none", (2,), 3),
    ModelConfig("mlp", 10, 3, "none", (1, 8, 8), 10),
    *[ModelConfig("vgg", 1, 0, norm, (1, 8, 8), 10) for norm in ("none", "batch", "layer")],
    *[ModelConfig("resnet20", 1, 0, norm, (3, 8, 8), 10) for norm in ("none", "batch", "layer")],
]


def config_id(config):
    return f"{config.arch}-d{config.depth}-{config.norm}"


def random_net(config, seed):
    """A network whose every parameter and norm statistic is random, so nothing is symmetric."""
    generator = torch.Generator().manual_seed(seed)
    model = build_model(config, generator)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
    return model.eval()


def inputs(config, n=16, seed=1):
    return torch.randn(n, *config.input_shape, generator=torch.Generator().manual_seed(seed))
