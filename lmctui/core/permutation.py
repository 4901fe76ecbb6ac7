"""Permutation specs: which axis of which weight each hidden-unit permutation acts on.

A `PermutationSpec` maps every state-dict entry to one permutation name (or None) per
axis, as in git-re-basin's `weight_matching.py`. One small builder per architecture.
Models never know about permutations; `apply_permutation` is a pure function of
(spec, permutations, state dict).

Convention: `perms[p]` is an index tensor and the permuted network's unit i on p is the
original network's unit `perms[p][i]` (rows are gathered, not scattered).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lmctui.core.models import RESNET_BLOCKS_PER_STAGE, RESNET_STAGE_CHANNELS, VGG_LAYOUT, ModelConfig
from lmctui.core.weights import StateDict

Permutations = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Joined:
    """An axis carrying several permutations' units side by side, each unit a block of entries.

    A convolution reading a channel concatenation has `parts` ((P_a, n_a, 1), (P_b, n_b, 1));
    a Linear reading C flattened channels of H*W pixels has ((P_c, C, H*W),). A part whose
    permutation is None stays in place (an unpermuted input concatenated in).
    """

    parts: tuple[tuple[str | None, int, int], ...]  # (permutation, units, entries per unit)

    @property
    def names(self) -> list[str]:
        return [p for p, _, _ in self.parts if p is not None]

    def index(self, perms: Permutations) -> torch.Tensor:
        """The gather index of the whole axis (see the module docstring's convention)."""
        pieces, offset = [], 0
        for perm, units, repeat in self.parts:
            order = perms[perm].cpu() if perm is not None else torch.arange(units)
            pieces.append(offset + (order[:, None] * repeat + torch.arange(repeat)).flatten())
            offset += units * repeat
        return torch.cat(pieces)

    def rows(self, value: torch.Tensor, axis: int, perm: str) -> torch.Tensor:
        """(units of `perm`, everything else): the entries of `value` that `perm`'s units own."""
        offset = 0
        for p, units, repeat in self.parts:
            if p == perm:
                part = value.narrow(axis, offset, units * repeat).movedim(axis, 0)
                return part.reshape(units, -1)
            offset += units * repeat
        raise KeyError(perm)


Axes = tuple[str | Joined | None, ...]


def entry_names(entry: str | Joined | None) -> list[str]:
    """The permutations one axis entry acts on."""
    return entry.names if isinstance(entry, Joined) else [] if entry is None else [entry]


@dataclass(frozen=True)
class ActivationPoint:
    """Where a permutation's units can be observed: a module's output, ReLU'd if `relu`,
    its units on `channel_axis` (1: (B, C, ...) as in CNNs and MLPs; -1: (B, T, C) tokens)."""

    module: str
    relu: bool
    channel_axis: int = 1


@dataclass(frozen=True)
class BlockGroup:
    """Permutations whose units come in blocks that move as wholes, all by one block map.

    An attention layer's heads: its query/key permutation and its value/output
    permutation each have `n_blocks` (heads) blocks of head-dimension units; a valid
    permutation sends head I to one head J, the same J for both members, and permutes the
    units inside each head freely (each member on its own). A GroupNorm's groups are a
    group of one member. Formally, for every member p of size n, with s = n / n_blocks:
    `perms[p][i] // s == block_map[i // s]` for one `block_map` shared by the members.
    """

    perms: tuple[str, ...]
    n_blocks: int


@dataclass(frozen=True)
class PermutationSpec:
    axes: dict[str, Axes]  # state-dict key -> permutation name (or None) per axis
    # perm name -> points whose channels are that perm's units (activation matching, REPAIR)
    activations: dict[str, tuple[ActivationPoint, ...]] = field(default_factory=dict)
    # Entries that follow their units but are not weights (BatchNorm running statistics):
    # `apply_permutation` permutes them, weight matching leaves them out of its objective.
    buffers: frozenset[str] = frozenset()
    # block-group name -> the permutations that must move in whole blocks (see BlockGroup);
    # a permutation in no group is free.
    blocks: dict[str, BlockGroup] = field(default_factory=dict)

    @property
    def matched_keys(self) -> list[str]:
        """The weights weight matching compares: permuted, and not a buffer."""
        return [k for k, axes in self.axes.items() if k not in self.buffers and any(p is not None for p in axes)]

    @property
    def perm_axes(self) -> dict[str, list[tuple[str, int]]]:
        """perm name -> every (weight key, axis) it acts on."""
        out: dict[str, list[tuple[str, int]]] = {}
        for key, axes in self.axes.items():
            for axis, entry in enumerate(axes):
                for perm in entry_names(entry):
                    out.setdefault(perm, []).append((key, axis))
        return out

    def perm_sizes(self, state: StateDict) -> dict[str, int]:
        sizes = {}
        for key, axes in self.axes.items():
            for axis, entry in enumerate(axes):
                parts = entry.parts if isinstance(entry, Joined) else [(entry, state[key].shape[axis], 1)]
                sizes |= {p: units for p, units, _ in parts if p is not None and p not in sizes}
        return sizes

    def neighbours(self) -> dict[str, set[str]]:
        """perm -> the other perms sharing a weight with it: those its cost matrix depends on."""
        out = {p: set() for p in self.perm_axes}
        for axes in self.axes.values():
            named = {p for a in axes for p in entry_names(a)}
            for p in named:
                out[p] |= named - {p}
        return out

    def block_group_of(self) -> dict[str, str]:
        """perm name -> the name of its block group, for the perms that have one."""
        return {p: name for name, group in self.blocks.items() for p in group.perms}

    def check_covers(self, state: StateDict) -> None:
        missing = set(state) - set(self.axes)
        extra = set(self.axes) - set(state)
        if missing or extra:
            raise ValueError(f"permutation spec does not match the weights: missing {sorted(missing)}, "
                             f"extra {sorted(extra)}")


def apply_permutation(spec: PermutationSpec, perms: Permutations, state: StateDict) -> StateDict:
    """A new state dict with every permuted axis gathered by its permutation."""
    return {key: permute_tensor(value, spec.axes.get(key, ()), perms) for key, value in state.items()}


def permute_tensor(value: torch.Tensor, axes: Axes, perms: Permutations, skip_axis: int | None = None) -> torch.Tensor:
    for axis, perm in enumerate(axes):
        if perm is not None and axis != skip_axis:
            index = perm.index(perms) if isinstance(perm, Joined) else perms[perm]
            value = value.index_select(axis, index.to(value.device))
    return value


def identity_perms(spec: PermutationSpec, state: StateDict) -> Permutations:
    return {p: torch.arange(n) for p, n in spec.perm_sizes(state).items()}


def random_perms(spec: PermutationSpec, state: StateDict, generator: torch.Generator) -> Permutations:
    """A uniformly random permutation of every group the spec allows (whole blocks included)."""
    sizes = spec.perm_sizes(state)
    perms = {p: torch.randperm(n, generator=generator) for p, n in sizes.items() if p not in spec.block_group_of()}
    for group in spec.blocks.values():
        block_map = torch.randperm(group.n_blocks, generator=generator)
        for p in group.perms:
            perms[p] = blocked_perm(block_map, [torch.randperm(sizes[p] // group.n_blocks, generator=generator)
                                                for _ in range(group.n_blocks)])
    return perms


def blocked_perm(block_map: torch.Tensor, inner: list[torch.Tensor]) -> torch.Tensor:
    """The permutation that sends block I to block `block_map[I]`, ordered inside by `inner[I]`."""
    size = len(inner[0])
    return torch.cat([block_map[i] * size + inner[i] for i in range(len(inner))])


def check_blocks(spec: PermutationSpec, perms: Permutations) -> None:
    """Raise ValueError unless every block group's members move whole blocks by one map."""
    for name, group in spec.blocks.items():
        maps = []
        for p in group.perms:
            size = len(perms[p]) // group.n_blocks
            blocks = (perms[p] // size).reshape(group.n_blocks, size)  # (blocks, units per block)
            if not bool((blocks == blocks[:, :1]).all()):
                raise ValueError(f"permutation {p} splits a block of group {name}")
            maps.append(blocks[:, 0])
        if any(not torch.equal(m, maps[0]) for m in maps[1:]):
            raise ValueError(f"the members of block group {name} move their blocks differently")


def invert(perms: Permutations) -> Permutations:
    return {p: torch.argsort(v) for p, v in perms.items()}


def compose(outer: Permutations, inner: Permutations) -> Permutations:
    """Applying `inner`, then `outer`, equals applying the result once."""
    return {p: inner[p][outer[p]] for p in outer}


# -- builders ------------------------------------------------------------------------------

def spec_for(config: ModelConfig) -> PermutationSpec:
    """The hand-written spec of a built-in architecture (specs.spec_for serves any model)."""
    return HAND_WRITTEN[config.arch](config)


def _dense(name: str, out: str | None, inp: str | None) -> dict[str, Axes]:
    return {f"{name}.weight": (out, inp), f"{name}.bias": (out,)}


def _conv(name: str, out: str | None, inp: str | None, bias: bool) -> dict[str, Axes]:
    axes = {f"{name}.weight": (out, inp, None, None)}
    if bias:
        axes[f"{name}.bias"] = (out,)
    return axes


NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _buffers(axes: dict[str, Axes]) -> frozenset[str]:
    return frozenset(k for k in axes if k.rsplit(".", 1)[-1] in NORM_BUFFERS)


def _norm(name: str, perm: str, kind: str) -> dict[str, Axes]:
    """Norm affine parameters and running statistics follow their channels."""
    if kind == "none":
        return {}
    axes = {f"{name}.weight": (perm,), f"{name}.bias": (perm,)}
    if kind == "batch":
        axes |= {f"{name}.running_mean": (perm,), f"{name}.running_var": (perm,),
                 f"{name}.num_batches_tracked": ()}
    return axes


def mlp_spec(config: ModelConfig) -> PermutationSpec:
    axes, activations, previous = {}, {}, None
    for i in range(config.depth):
        perm = f"P_hidden{i}"
        axes |= _dense(f"hidden.{i}", perm, previous)
        activations[perm] = (ActivationPoint(f"hidden.{i}", relu=True),)
        previous = perm
    axes |= _dense("out", None, previous)
    return PermutationSpec(axes, activations, _buffers(axes))


def vgg_spec(config: ModelConfig) -> PermutationSpec:
    axes, activations, previous = {}, {}, None
    n_convs = sum(1 for item in VGG_LAYOUT if item != "M")
    for i in range(n_convs):
        perm = f"P_conv{i}"
        axes |= _conv(f"convs.{i}", perm, previous, bias=config.norm == "none")
        axes |= _norm(f"norms.{i}", perm, config.norm)
        activations[perm] = (ActivationPoint(f"norms.{i}", relu=True),)
        previous = perm
    axes |= _dense("head", None, previous)
    return PermutationSpec(axes, activations, _buffers(axes))


def resnet20_spec(config: ModelConfig) -> PermutationSpec:
    """Each stage's residual stream shares one permutation; each block has an inner one."""
    bias, norm = config.norm == "none", config.norm
    axes = _conv("stem_conv", "P_stream0", None, bias) | _norm("stem_norm", "P_stream0", norm)
    activations: dict[str, list[ActivationPoint]] = {"P_stream0": [ActivationPoint("stem_norm", True)]}
    stream_in = "P_stream0"
    for b in range(len(RESNET_STAGE_CHANNELS) * RESNET_BLOCKS_PER_STAGE):
        stage = b // RESNET_BLOCKS_PER_STAGE
        stream, inner, name = f"P_stream{stage}", f"P_block{b}", f"blocks.{b}"
        axes |= _conv(f"{name}.conv1", inner, stream_in, bias) | _norm(f"{name}.norm1", inner, norm)
        axes |= _conv(f"{name}.conv2", stream, inner, bias) | _norm(f"{name}.norm2", stream, norm)
        if stream != stream_in:  # the downsampling block's shortcut maps one stream to the next
            axes |= _conv(f"{name}.shortcut_conv", stream, stream_in, bias)
            axes |= _norm(f"{name}.shortcut_norm", stream, norm)
        activations[inner] = [ActivationPoint(f"{name}.norm1", True)]
        activations.setdefault(stream, []).append(ActivationPoint(name, False))  # block output: ReLU'd sum
        stream_in = stream
    axes |= _dense("head", None, stream_in)
    return PermutationSpec(axes, {p: tuple(points) for p, points in activations.items()}, _buffers(axes))


def transformer_spec(config: ModelConfig) -> PermutationSpec:
    """ViT and GPT (transformers.py): the residual stream, each block's MLP units and heads.

    Names, which a traced spec must reproduce:
    - `P_res`: the residual stream. One permutation for the embedding's output features,
      the position embedding's feature axis (never its position axis), every LayerNorm's
      weight and bias, every block's attention and MLP inputs and outputs, and the head's
      input: a residual sum only stays a sum if both terms move alike.
    - `P_mlp{i}`: block i's MLP hidden units (fc1's outputs, fc2's inputs).
    - `P_qk{i}`: block i's query and key features (one permutation for both: q . k per
      head is unchanged when both move alike); `P_vo{i}`: its value features and the
      output projection's inputs.
    - block group `heads{i}` = BlockGroup((P_qk{i}, P_vo{i}), heads): both move whole
      heads by one head map (a head's queries, keys and values stay one head) and permute
      freely inside each head, each on its own.
    The softmax's 1/sqrt(head dim) scaling and the causal mask act within a head and
    across positions, so no permutation of features touches them.
    """
    res, tokens = "P_res", -1
    embed = _dense("patch_embed", res, None) if config.arch == "vit" else {"token_embed.weight": (None, res)}
    axes = embed | {"pos_embed.weight": (None, res)}
    activations: dict[str, list[ActivationPoint]] = {res: [ActivationPoint("pos_embed", False, tokens)]}
    blocks = {}
    for i in range(config.depth):
        name, qk, vo, mlp = f"blocks.{i}", f"P_qk{i}", f"P_vo{i}", f"P_mlp{i}"
        axes |= _norm(f"{name}.norm1", res, "layer") | _norm(f"{name}.norm2", res, "layer")
        axes |= _dense(f"{name}.attn.query", qk, res) | _dense(f"{name}.attn.key", qk, res)
        axes |= _dense(f"{name}.attn.value", vo, res) | _dense(f"{name}.attn.out", res, vo)
        axes |= _dense(f"{name}.mlp.fc1", mlp, res) | _dense(f"{name}.mlp.fc2", res, mlp)
        blocks[f"heads{i}"] = BlockGroup((qk, vo), config.heads)
        activations[qk] = [ActivationPoint(f"{name}.attn.{m}", False, tokens) for m in ("query", "key")]
        activations[vo] = [ActivationPoint(f"{name}.attn.heads_out", False, tokens)]
        activations[mlp] = [ActivationPoint(f"{name}.mlp.fc1", False, tokens)]  # GELU's input
        activations[res].append(ActivationPoint(name, False, tokens))
    axes |= _norm("norm", res, "layer") | _dense("head", None, res)
    return PermutationSpec(axes, {p: tuple(points) for p, points in activations.items()}, blocks=blocks)


HAND_WRITTEN = {"mlp": mlp_spec, "vgg": vgg_spec, "resnet20": resnet20_spec,  # arch -> spec builder
                "vit": transformer_spec, "gpt": transformer_spec}
