"""Your own data: `npz:PATH` and `folder:PATH`, used as given.

No normalization and no split of our own: a network trained elsewhere on the same
arrays sees the same inputs here, so its imported loss and accuracy mean what they
meant there. A run records the sha256 of the content (service/user_inputs.py), so a run
whose data changed since it trained can be told apart from one whose data did not.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from lmctui.configs import IMAGE_SUFFIXES, DataConfig, image_files, user_data_kind
from lmctui.errors import FieldError

NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def load_user_data(config: DataConfig):
    """The npz or folder data set `config` names, as (x_train, y_train, x_test, y_test, num_classes)."""
    if user_data_kind(config.name) == "npz":
        return load_npz(config.user_path)
    return load_folder(config.user_path, config.image_size)


def load_npz(path: Path):
    """x as float32 (or int64 when stored as integers: token ids), y as int64 in [0, classes)."""
    try:
        with np.load(path, allow_pickle=False) as npz:  # never unpickle: arrays only
            missing = [name for name in NPZ_ARRAYS if name not in npz.files]
            if missing:
                raise FieldError("dataset", f"{path} has no {', '.join(missing)} (an npz: data set needs "
                                            f"the arrays {', '.join(NPZ_ARRAYS)}; it has {', '.join(npz.files) or 'none'})")
            arrays = {name: npz[name] for name in NPZ_ARRAYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise FieldError("dataset", f"{path} is not a readable npz file ({' '.join(str(err).split())})") from None
    x_train, x_test = (_inputs(arrays[name], name, path) for name in ("x_train", "x_test"))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise FieldError("dataset", f"{path}: x_train's examples are {tuple(x_train.shape[1:])}, x_test's "
                                    f"{tuple(x_test.shape[1:])}")
    y_train, y_test = (_labels(arrays[name], name, path) for name in ("y_train", "y_test"))
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(x) != len(y):
            raise FieldError("dataset", f"{path}: x_{split} has {len(x)} examples, y_{split} {len(y)} labels")
    return x_train, y_train, x_test, y_test, _num_classes(y_train, y_test, path)


def _inputs(array: np.ndarray, name: str, path: Path) -> torch.Tensor:
    """N x D features, N x C x H x W images, or N x H x W images (one channel added)."""
    if array.ndim not in (2, 3, 4) or len(array) == 0:
        raise FieldError("dataset", f"{path}: {name} must be N x D, N x H x W or N x C x H x W with N > 0, "
                                    f"got shape {array.shape}")
    if array.dtype.kind in "iub":
        tensor = torch.from_numpy(array.astype(np.int64))
    elif array.dtype.kind == "f":
        tensor = torch.from_numpy(array.astype(np.float32))
        if not torch.isfinite(tensor).all():
            raise FieldError("dataset", f"{path}: {name} holds NaN or infinite values")
    else:
        raise FieldError("dataset", f"{path}: {name} must hold numbers, got {array.dtype}")
    return tensor[:, None] if tensor.dim() == 3 else tensor


def _labels(array: np.ndarray, name: str, path: Path) -> torch.Tensor:
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise FieldError("dataset", f"{path}: {name} must be a vector of whole-number class labels, "
                                    f"got {array.dtype} of shape {array.shape}")
    return torch.from_numpy(array.astype(np.int64))


def _num_classes(y_train: torch.Tensor, y_test: torch.Tensor, path) -> int:
    """Classes are 0 .. max(y_train); a negative label, or a test label the training set never has, is refused."""
    classes = int(y_train.max()) + 1
    low = int(min(y_train.min(), y_test.min()))
    if low < 0 or int(y_test.max()) >= classes:
        bad = low if low < 0 else int(y_test.max())
        raise FieldError("dataset", f"{path}: label {bad} is out of range (classes are 0 to {classes - 1}, "
                                    "taken from y_train)")
    if classes < 2:
        raise FieldError("dataset", f"{path}: y_train has a single class; a classifier needs two or more")
    return classes


def load_folder(root: Path, image_size: int | None):
    """ImageFolder's layout: train/CLASS/IMAGE and test/CLASS/IMAGE, classes named by train/'s folders.

    Pixels are scaled to [0, 1] (as torchvision's ToTensor); one channel when every
    training image is greyscale, else RGB.
    """
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if len(classes) < 2:
        raise FieldError("dataset", f"{root}/train needs one folder per class (two or more), found {len(classes)}")
    unknown = sorted(p.name for p in (root / "test").iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise FieldError("dataset", f"{root}/test has class {unknown[0]!r}, which train/ does not have")
    files = {split: [(f, classes.index(c)) for c in classes if (root / split / c).is_dir()
                     for f in image_files(root / split / c)] for split in ("train", "test")}
    for split, found in files.items():
        if not found:
            raise FieldError("dataset", f"{root}/{split} has no images ({', '.join(IMAGE_SUFFIXES)})")
    mode = "L" if all(_mode(f) in ("1", "L", "I;16", "I") for f, _ in files["train"]) else "RGB"
    x_train, y_train = _read_images(files["train"], mode, image_size, root)
    x_test, y_test = _read_images(files["test"], mode, image_size, root)
    return x_train, y_train, x_test, y_test, len(classes)


def _mode(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as image:
        return image.mode


def _read_images(files: list[tuple[Path, int]], mode: str, size: int | None, root: Path):
    from PIL import Image, UnidentifiedImageError

    arrays, shape = [], None
    for path, _ in files:
        try:
            with Image.open(path) as image:
                image = image.convert(mode)
                if size is not None:
                    image = image.resize((size, size), Image.BILINEAR)
                array = np.asarray(image, dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError) as err:
            raise FieldError("dataset", f"{path} is not a readable image ({err})") from None
        shape = shape or array.shape
        if array.shape != shape:
            raise FieldError("dataset", f"{root}: images differ in size ({shape[1]}x{shape[0]} and "
                                        f"{array.shape[1]}x{array.shape[0]}); give an image size to resize them")
        arrays.append(array)
    x = torch.from_numpy(np.stack(arrays))
    x = x[:, None] if x.dim() == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    return x.contiguous(), torch.tensor([label for _, label in files], dtype=torch.int64)
