"""Small pre-LayerNorm transformers: a ViT over image patches and a causal GPT over tokens.

Both share one block (multi-head self-attention, then a GELU MLP, each on a LayerNorm'd
copy of the residual stream and added back to it) and end in a final LayerNorm and a
linear head. State-dict names, which the permutation spec (permutation.py,
`transformer_spec`) names one by one:

- `patch_embed` (vit: a Linear on flattened patches) or `token_embed` (gpt: an Embedding)
- `pos_embed.weight`: (tokens, width), learned, added to the embeddings
- `blocks.{i}.norm1`, `blocks.{i}.attn.{query,key,value,out}`, `blocks.{i}.norm2`,
  `blocks.{i}.mlp.{fc1,fc2}`
- `norm`, `head`

Separate query, key and value projections (not one fused `qkv`) keep each weight under
one permutation per axis. `attn.heads_out` is an identity whose output is the
concatenated heads before the output projection: activation matching observes there.

Choices: ViT pools by the mean over patch tokens (no class token: one embedding fewer
to permute and no special position); GPT reads its head off the last position (the `=`
of `a b =`). Attention is written out (no fused kernel) so it runs under vmap and in
float64 alike.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from lmctui.configs import ModelConfig

MLP_RATIO = 4  # MLP hidden units per residual dimension, as in GPT-2 and ViT


class PositionEmbedding(nn.Module):
    """A learned (tokens, width) table added to the token embeddings."""

    def __init__(self, tokens: int, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(tokens, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight  # (B, T, D)


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, causal: bool):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.query, self.key, self.value = (nn.Linear(width, width) for _ in range(3))
        self.heads_out = nn.Identity()
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        split = lambda t: t.view(B, T, self.heads, D // self.heads).transpose(1, 2)  # (B, H, T, D/H)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // self.heads)  # (B, H, T, T)
        if self.causal:
            future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        mixed = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)  # heads side by side
        return self.out(self.heads_out(mixed))


class FeedForward(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.fc1 = nn.Linear(width, MLP_RATIO * width)
        self.fc2 = nn.Linear(MLP_RATIO * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, causal: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, causal)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = FeedForward(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))  # (B, T, D)


class Trunk(nn.Module):
    """Position embedding, the blocks and the final LayerNorm: what both models share."""

    def __init__(self, tokens: int, width: int, depth: int, heads: int, causal: bool):
        super().__init__()
        self.pos_embed = PositionEmbedding(tokens, width)
        self.blocks = nn.ModuleList(Block(width, heads, causal) for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_embed(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)  # (B, T, D)


class ViT(Trunk):
    def __init__(self, config: ModelConfig):
        channels, height, side = config.input_shape
        patch = config.patch_size
        super().__init__((height // patch) * (side // patch), config.embed_width, config.depth, config.heads,
                         causal=False)
        self.patch = patch
        self.patch_embed = nn.Linear(channels * self.patch ** 2, config.embed_width)
        self.head = nn.Linear(config.embed_width, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch
        patches = x.unfold(2, p, p).unfold(3, p, p)  # (B, C, H/p, W/p, p, p)
        patches = patches.permute(0, 2, 3, 1, 4, 5).flatten(3).flatten(1, 2)  # (B, T, C*p*p)
        return self.head(self.run(self.patch_embed(patches)).mean(1))  # (B, classes)


class GPT(Trunk):
    """Causal; the vocabulary is the labels plus one separator token (modadd: 0..p-1 and `=`)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config.input_shape[0], config.embed_width, config.depth, config.heads, causal=True)
        self.token_embed = nn.Embedding(config.num_classes + 1, config.embed_width)
        self.head = nn.Linear(config.embed_width, config.num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.run(self.token_embed(tokens))[:, -1])  # (B, classes)


EMBED_INIT_STD = 0.02  # GPT-2's: embeddings small next to the residual updates


@torch.no_grad()
def reset_embeddings(module: nn.Module, generator: torch.Generator) -> bool:
    """Initialize `module` if it is an embedding or a LayerNorm; whether it was one."""
    if isinstance(module, (nn.Embedding, PositionEmbedding)):
        nn.init.normal_(module.weight, std=EMBED_INIT_STD, generator=generator)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    else:
        return False
    return True
