"""`lmctui-cli import` and `lmctui-cli spec`: networks from outside, and the permutation spec every use of
an architecture takes (built-in, or your own `MODULE:FACTORY`). `cli.py` registers them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lmctui import cli_render as render
from lmctui.choices import ARCHS
from lmctui.cli_options import Arch, ArchArgs, ArchDataset, Dataset, Depth, Device, Heads, Home, ImageSize, Json, Norm, Patch, Width
from lmctui.cli_run import command, registry_at, signals_interrupt
from lmctui.configs import DataConfig, ModelConfig, canonical_dataset, dataset_for, default_width
from lmctui.usermodel import parse_arch_args


@command
def import_(
    files: Annotated[list[Path], typer.Argument(help=".safetensors, .pt or .pth state dicts: one run each")],
    arch: Arch = "mlp",
    dataset: Dataset = DataConfig.name,
    width: Width = None,
    arch_arg: ArchArgs = None,
    depth: Depth = ModelConfig.depth,
    norm: Norm = "none",
    key_prefix: Annotated[Optional[str], typer.Option(help="Strip this from every weight's name, e.g. module.")] = None,
    image_size: ImageSize = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Folder of MNIST/Fashion-MNIST/CIFAR-10 files")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="Tag the runs (repeatable)")] = None,
    device: Device = "auto",
    home: Home = None,
    json: Json = False,
):
    """Register networks trained elsewhere: each file checked against the model, evaluated, stored as a run."""
    from lmctui.service.importing import ImportRequest, import_runs

    request = ImportRequest(tuple(map(str, files)), DataConfig(canonical_dataset(dataset), data_dir=data_dir,
                                                               image_size=image_size),
                            arch, default_width(arch) if width is None else width, depth, norm,
                            parse_arch_args(arch_arg or ()), key_prefix, tuple(tag or ()), device)
    registry = registry_at(home)
    request.validate(registry.home)  # refused here, before torch
    signals_interrupt()
    render.runs({"runs": import_runs(registry, request)}, json)


@command
def spec(
    arch: Annotated[str, typer.Argument(help=", ".join(ARCHS) + ", or your own: MODULE:FACTORY or PATH/TO/FILE.py:FACTORY")],
    dataset: ArchDataset = None,
    width: Width = None,
    depth: Depth = ModelConfig.depth,
    norm: Norm = "none",
    heads: Heads = ModelConfig.heads,
    patch: Patch = None,
    arch_arg: ArchArgs = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Folder of MNIST/Fashion-MNIST/CIFAR-10 files")] = None,
    image_size: ImageSize = None,
    json: Json = False,
):
    """The permutation spec of an architecture: its groups, the units it leaves unpermuted and why, and whether
    a random permutation from it leaves the model's outputs unchanged."""
    from lmctui.service.specs import SpecRequest, describe

    data = DataConfig(canonical_dataset(dataset_for(arch, dataset)), data_dir=data_dir, image_size=image_size)
    request = SpecRequest(arch, data, default_width(arch) if width is None else width, depth, norm,
                          tuple(arch_arg or ()), heads, patch)
    render.spec(describe(request), json)
