"""Weights trained elsewhere: a `.safetensors` file or a `.pt`/`.pth` state dict, checked against a model.

A `.pt` is read with `torch.load(weights_only=True)`: tensors and plain containers only,
never unpickled code. What comes out must be a flat mapping of names to tensors (a
state dict); its names, after an optional prefix is stripped, must be the model's, with
the model's shapes.
"""

from __future__ import annotations

import difflib
import pickle
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from lmctui.errors import UserError

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


def read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in `path` (CPU tensors); a file that is not one is refused in one line."""
    suffix = path.suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise UserError(f"{path}: weights must be {', '.join(WEIGHT_SUFFIXES)}, got {suffix or 'no suffix'}")
    if not path.is_file():
        raise UserError(f"{path} is not a file")
    if suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        with warnings.catch_warnings():  # the refusal below is the one line the user sees
            warnings.simplefilter("ignore")
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserError(f"{path} holds more than tensors (code or objects that a weights-only load refuses: "
                        f"{_first_line(err)}); save model.state_dict() instead") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise UserError(f"{path} is not a readable PyTorch file ({_first_line(err)})") from None
    return _as_state_dict(loaded, path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path} is not a readable safetensors file ({_first_line(err)})") from None


def _as_state_dict(loaded, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, dict) and loaded and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                   for k, v in loaded.items()):
        return dict(loaded)
    hint = ""
    if isinstance(loaded, dict) and any(isinstance(v, dict) for v in loaded.values()):
        nested = [k for k, v in loaded.items() if isinstance(v, dict)]
        hint = f" (it holds dicts under {', '.join(map(str, nested[:3]))}: save the state dict itself)"
    raise UserError(f"{path} is not a state dict (a mapping of names to tensors), it holds a "
                    f"{type(loaded).__name__}{hint}")


def strip_prefix(state: dict[str, torch.Tensor], prefix: str | None) -> dict[str, torch.Tensor]:
    """`state` with `prefix` taken off every name that has it (`module.`, `model.`)."""
    if not prefix:
        return state
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


def check_against(state: dict[str, torch.Tensor], model: nn.Module, path: Path) -> dict[str, torch.Tensor]:
    """`state` in the model's dtypes, refused when a name is missing or extra or a shape differs."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        raise UserError(f"{path} has no {missing[0]}{_closest(missing[0], unexpected)} "
                        f"({len(missing)} of the model's {len(expected)} names missing; a prefix to strip?)")
    if unexpected:
        raise UserError(f"{path} has {unexpected[0]}, which the model does not{_closest(unexpected[0], list(expected))}")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise UserError(f"{path}: {name} is {tuple(state[name].shape)}, the model's is {tuple(tensor.shape)}")
    return {name: state[name].to(tensor.dtype) for name, tensor in expected.items()}


def _closest(name: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.0)
    return f" (closest: {match[0]})" if match else ""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
