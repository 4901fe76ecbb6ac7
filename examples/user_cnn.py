"""A small CNN of the kind a researcher brings: GroupNorm, a residual block and a channel concatenation.

lmctui calls `make_cnn(input_shape, num_classes, **arch_args)`; nothing here knows lmctui.
"""

import torch
from torch import nn
from torch.nn import functional as F


class Residual(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, channels)

    def forward(self, x):
        out = F.relu(self.norm1(self.conv1(x)))
        return F.relu(x + self.norm2(self.conv2(out)))  # the sum shares one permutation


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, width: int, groups: int):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.stem_norm = nn.GroupNorm(groups, width)
        self.block = Residual(width, groups)
        self.side = nn.Conv2d(in_channels, width, 1)  # a second path, concatenated along channels
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x):  # (B, C, H, W)
        main = self.block(F.relu(self.stem_norm(self.stem(x))))  # (B, width, H, W)
        both = torch.cat([main, F.relu(self.side(x))], dim=1)  # (B, 2 width, H, W): each part its own permutation
        return self.head(F.adaptive_avg_pool2d(both, 1).flatten(1))


def make_cnn(input_shape, num_classes, width=16, groups=1):
    return SmallCNN(input_shape[0], num_classes, width, groups)
