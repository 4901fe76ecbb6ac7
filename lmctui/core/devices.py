"""Turn `--device auto|cpu|cuda[:N]` into a torch.device, refusing what is not there."""

from __future__ import annotations

import re

import torch

from lmctui.errors import UserError

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def resolve_device(spec: str = "auto") -> torch.device:
    if not _DEVICE.match(spec or ""):
        raise UserError(f"--device must be auto, cpu or cuda[:N], got {spec!r}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {spec}: CUDA is not available on this machine")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise UserError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
    if spec == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps: MPS is not available on this machine")
    return torch.device(spec)
