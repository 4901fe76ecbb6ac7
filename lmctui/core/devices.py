"""Turn a device name (auto, cpu, cuda[:N], mps) into a torch.device, refusing what is not there."""

from __future__ import annotations

import re

import torch

from lmctui.errors import FieldError

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def resolve_device(spec: str = "auto") -> torch.device:
    if not _DEVICE.match(spec or ""):
        raise FieldError("device", f"must be auto, cpu or cuda[:N], got {spec!r}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise FieldError("device", f"is {spec}, but CUDA is not available on this machine")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise FieldError("device", f"is {spec}, but this machine has only {torch.cuda.device_count()} CUDA device(s)")
    if spec == "mps" and not torch.backends.mps.is_available():
        raise FieldError("device", "is mps, but MPS is not available on this machine")
    return torch.device(spec)
