"""Your own data (npz:, folder:) and weights trained elsewhere, checked against the model."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from lmctui.configs import DataConfig, canonical_dataset
from lmctui.core.data import load_dataset
from lmctui.core.external_weights import check_against, read_state_file, strip_prefix
from lmctui.service.user_inputs import content_sha256
from lmctui.errors import FieldError, UserError


def write_npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(size=(40, 6, 6)).astype(np.float32), "y_train": np.arange(40) % 3,
              "x_test": rng.normal(size=(10, 6, 6)).astype(np.float32), "y_test": np.arange(10) % 3}
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_npz_is_used_as_given(tmp_path):
    path = write_npz(tmp_path / "d.npz")
    data = load_dataset(DataConfig(canonical_dataset(f"npz:{path}")))
    with np.load(path) as raw:
        assert torch.equal(data.x_train[:, 0], torch.from_numpy(raw["x_train"]))  # N x H x W gets its channel
        assert torch.equal(data.y_test, torch.from_numpy(raw["y_test"]))
    assert data.input_shape == (1, 6, 6) and data.num_classes == 3


def test_npz_features_stay_flat(tmp_path):
    path = write_npz(tmp_path / "f.npz", x_train=np.ones((40, 5), np.float32), x_test=np.ones((10, 5), np.float32))
    assert load_dataset(DataConfig(f"npz:{path}")).input_shape == (5,)


@pytest.mark.parametrize("overrides, fragment", [
    ({"y_test": None}, "has no y_test"),
    ({"y_test": np.array([0, 1, 2, 3, 0, 1, 2, 0, 1, 2])}, "label 3 is out of range"),
    ({"y_train": -(np.arange(40) % 3)}, "out of range"),
    ({"y_train": np.arange(40) % 3 + 0.5}, "whole-number class labels"),
    ({"x_test": np.zeros((10, 7, 7), np.float32)}, "x_test's"),
    ({"y_train": np.arange(39) % 3}, "39 labels"),
])
def test_bad_npz_is_one_line(tmp_path, overrides, fragment):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(FieldError) as err:
        load_dataset(DataConfig(f"npz:{path}"))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_npz_that_is_no_npz_or_missing(tmp_path):
    (tmp_path / "x.npz").write_text("not a zip")
    with pytest.raises(FieldError, match="not a readable npz"):
        load_dataset(DataConfig(f"npz:{tmp_path / 'x.npz'}"))
    with pytest.raises(FieldError, match="is not a file"):
        DataConfig(f"npz:{tmp_path / 'nope.npz'}").validate()


def make_folder(root, size=(5, 4), classes=("cat", "dog")):
    from PIL import Image

    rng = np.random.default_rng(1)
    for split, count in (("train", 3), ("test", 2)):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, size=(size[1], size[0]), dtype=np.uint8)
                Image.fromarray(pixels, mode="L").save(root / split / c / f"{i}.png")
    return root


def test_folder_reads_imagefolder_layout(tmp_path):
    from PIL import Image

    root = make_folder(tmp_path / "imgs")
    config = DataConfig(f"folder:{root}")
    data = load_dataset(config)
    assert data.x_train.shape == (6, 1, 4, 5) and data.num_classes == 2
    assert data.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    first = np.asarray(Image.open(root / "train" / "cat" / "0.png"), dtype=np.float32) / 255
    assert torch.allclose(data.x_train[0, 0], torch.from_numpy(first))
    assert load_dataset(DataConfig(f"folder:{root}", image_size=3)).input_shape == (1, 3, 3)
    before = content_sha256(config)
    Image.fromarray(np.zeros((4, 5), np.uint8), mode="L").save(root / "test" / "dog" / "0.png")
    assert content_sha256(config) != before


def test_folder_without_train_is_refused(tmp_path):
    (tmp_path / "imgs" / "test").mkdir(parents=True)
    with pytest.raises(FieldError, match="has no train/ folder"):
        DataConfig(f"folder:{tmp_path / 'imgs'}").validate()


def small_net():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_weights_round_trip_with_prefix(tmp_path):
    from safetensors.torch import save_file

    net = small_net()
    save_file({f"module.{k}": v for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    for name, prefix in (("w.safetensors", "module."), ("w.pt", None)):
        state = check_against(strip_prefix(read_state_file(tmp_path / name), prefix), small_net(), tmp_path / name)
        assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_mismatched_names_and_shapes_name_the_closest(tmp_path):
    torch.save({f"model.{k}": v for k, v in small_net().state_dict().items()}, tmp_path / "w.pt")
    with pytest.raises(UserError, match=r"has no 0.weight \(closest: model.0.weight\)"):
        check_against(read_state_file(tmp_path / "w.pt"), small_net(), tmp_path / "w.pt")
    other = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    torch.save(other.state_dict(), tmp_path / "o.pt")
    with pytest.raises(UserError, match=r"0.weight is \(5, 3\), the model's is \(4, 3\)"):
        check_against(read_state_file(tmp_path / "o.pt"), small_net(), tmp_path / "o.pt")


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pt_holding_code_or_no_state_dict_is_refused(tmp_path, capsys):
    with open(tmp_path / "code.pt", "wb") as f:
        pickle.dump({"w": Payload()}, f)
    with pytest.raises(UserError, match="holds more than tensors"):
        read_state_file(tmp_path / "code.pt")
    assert "this must never run" not in capsys.readouterr().out
    torch.save({"epoch": 3, "state": small_net().state_dict()}, tmp_path / "ckpt.pt")
    with pytest.raises(UserError, match="is not a state dict"):
        read_state_file(tmp_path / "ckpt.pt")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(UserError, match="is not a state dict"):
        read_state_file(tmp_path / "list.pth")


def test_import_registers_evaluated_runs_and_refuses_all_on_one_bad_file(tmp_path):
    from safetensors.torch import save_file

    from lmctui.core.evaluation import evaluate
    from lmctui.service.importing import ImportRequest, import_runs
    from lmctui.store import Registry

    (tmp_path / "m.py").write_text("from torch import nn\n"
                                   "def make(input_shape, num_classes):\n"
                                   "    return nn.Sequential(nn.Flatten(), nn.Linear(36, 5), nn.ReLU(), nn.Linear(5, 3))\n")
    data_path = write_npz(tmp_path / "d.npz")
    nets = [nn.Sequential(nn.Flatten(), nn.Linear(36, 5), nn.ReLU(), nn.Linear(5, 3)) for _ in range(2)]
    for i, net in enumerate(nets):
        save_file({f"model.{k}": v for k, v in net.state_dict().items()}, str(tmp_path / f"n{i}.safetensors"))
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pt")
    registry = Registry(tmp_path / "home")
    request = ImportRequest((str(tmp_path / "n0.safetensors"), str(tmp_path / "bad.pt")),
                            DataConfig(canonical_dataset(f"npz:{data_path}")), f"{tmp_path / 'm.py'}:make",
                            width=None, key_prefix="model.", device="cpu")
    with pytest.raises(UserError):
        import_runs(registry, request)
    assert registry.all("runs") == []
    from dataclasses import replace
    runs = import_runs(registry, replace(request, files=(str(tmp_path / "n0.safetensors"),
                                                         str(tmp_path / "n1.safetensors"))))
    data = load_dataset(DataConfig(f"npz:{data_path}"))
    for run, net in zip(runs, nets):
        assert run["kind"] == "imported" and run["status"] == "done"
        loss, acc = evaluate(net, data.x_test, data.y_test)
        assert run["test_loss"] == pytest.approx(loss, rel=1e-6) and run["test_acc"] == pytest.approx(acc)
        doc = registry.get("runs", run["id"])
        assert doc["source"] == "imported" and doc["source_file"].endswith(".safetensors")
        assert doc["config"]["data"]["sha256"] == content_sha256(DataConfig(f"npz:{data_path}"))


def test_a_run_whose_data_changed_is_refused(tmp_path):
    from lmctui.service.user_inputs import check_data_unchanged, identified_data

    path = write_npz(tmp_path / "d.npz")
    config = identified_data(DataConfig(canonical_dataset(f"npz:{path}")))
    doc = {"id": "r1", "config": {"data": config.to_dict()}}
    check_data_unchanged(doc)
    write_npz(path, y_test=np.arange(10) % 2)
    with pytest.raises(UserError, match="changed since the run was made"):
        check_data_unchanged(doc)
