"""The permutation spec of any model config: hand-written for the built-ins, traced otherwise.

Every use of a spec asks `spec_for(config)`. A built-in architecture gets its hand-written
spec (the tests hold it equal to the traced one); any other model is built, traced and
verified once per process (`traced_for`), and a spec that fails verification is refused
with `SpecRefused` naming the first weight that breaks it.
"""

from __future__ import annotations

import json
from typing import Callable

import torch
from torch import nn

from lmctui.core.permutation import HAND_WRITTEN, PermutationSpec
from lmctui.core.spec_check import SpecCheck, verify_spec
from lmctui.core.tracing import TracedSpec, trace_spec
from lmctui.configs import ModelConfig

EXAMPLE_BATCH = 2  # torch.export specializes a batch of 1; 2 keeps the batch axis general

_CACHE: dict[str, tuple[TracedSpec, SpecCheck]] = {}


def spec_for(config: ModelConfig, build: Callable[[ModelConfig], nn.Module] | None = None) -> PermutationSpec:
    """The spec to align, interpolate and average networks of `config` with; verified if traced."""
    if config.arch in HAND_WRITTEN:
        return HAND_WRITTEN[config.arch](config)
    traced, check = traced_for(config, build)
    check.require()
    return traced.spec


def traced_for(config: ModelConfig, build: Callable[[ModelConfig], nn.Module] | None = None
               ) -> tuple[TracedSpec, SpecCheck]:
    """The traced spec of `config`'s model and its verification, computed once per process.

    `build` makes the model (default: `models.build_model`); only its architecture matters,
    so a fresh, randomly initialized one serves.
    """
    key = json.dumps(config.to_dict(), sort_keys=True, default=str)
    if key not in _CACHE:
        model, example = _model_and_example(config, build)
        traced = trace_spec(model, example)
        _CACHE[key] = (traced, verify_spec(traced.spec, model, example))
    return _CACHE[key]


def spec_report(config: ModelConfig, build: Callable[[ModelConfig], nn.Module] | None = None) -> dict:
    """What `spec_for(config)` uses, as a JSON document: its groups, what is pinned and why,
    the share of hidden units permuted, and whether it passed verification."""
    traced, check = traced_for(config, build)
    spec, source = traced.spec, "traced"
    model, example = _model_and_example(config, build)
    if config.arch in HAND_WRITTEN:
        spec, source = HAND_WRITTEN[config.arch](config), "hand-written"
        check = verify_spec(spec, model, example)
    sizes, group_of = spec.perm_sizes(model.state_dict()), spec.block_group_of()
    groups = [{"name": p, "size": sizes[p], "axes": [[key, axis] for key, axis in axes],
               "blocks": spec.blocks[group_of[p]].n_blocks if p in group_of else None,
               "block_group": group_of.get(p)} for p, axes in spec.perm_axes.items()]
    # one per attention layer (its heads) or GroupNorm: the permutations that move whole blocks by one map
    block_groups = [{"name": name, "blocks": group.n_blocks, "members": list(group.perms),
                     "block_size": sizes[group.perms[0]] // group.n_blocks} for name, group in spec.blocks.items()]
    return {"arch": config.arch, "source": source, "groups": groups, "block_groups": block_groups,
            "pinned": traced.pinned,
            "hidden_units": traced.hidden_units, "permutable_units": traced.permutable_units,
            "permutable_share": traced.permutable_share, "verified": check.ok,
            "max_rel_error": check.max_rel_error, "first_bad": check.first_bad}


def _model_and_example(config: ModelConfig, build) -> tuple[nn.Module, torch.Tensor]:
    """A fresh model and a batch of inputs: token ids where the model embeds tokens, else Gaussian."""
    if build is None:
        from lmctui.core.models import build_model as build
    model, generator, shape = build(config), torch.Generator().manual_seed(0), (EXAMPLE_BATCH, *config.input_shape)
    vocabularies = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    if vocabularies:
        return model, torch.randint(0, min(vocabularies), shape, generator=generator)
    return model, torch.randn(shape, generator=generator)
