"""Your own models, data and weights through the CLI: train, import, align, and the one-line refusals."""

import textwrap

import numpy as np
import pytest
import torch

from tests.conftest import registry_bytes

MODEL = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, d, classes, width):
            super().__init__()
            self.a = nn.Linear(d, width)
            self.norm = nn.LayerNorm(width)
            self.b = nn.Linear(width, classes)

        def forward(self, x):
            return self.b(torch.relu(self.norm(self.a(x.flatten(1)))))

    def make(input_shape, num_classes, width=6):
        return Net(input_shape[0] if len(input_shape) == 1 else 36, num_classes, width)

    def broken(input_shape, num_classes):
        raise RuntimeError("no such layer")

    def branching(input_shape, num_classes):
        class Branch(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(input_shape[0], num_classes)

            def forward(self, x):
                return self.a(x) if x.sum() > 0 else -self.a(x)

        return Branch()
""")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "usernet.py").write_text(MODEL)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    np.savez(tmp_path / "d.npz", x_train=x[:90], y_train=y[:90], x_test=x[90:], y_test=y[90:])
    np.savez(tmp_path / "three.npz", x_train=x, y_train=y, x_test=x)
    return tmp_path


def train_args(files, *more):
    return ("train", "--dataset", f"npz:{files / 'd.npz'}", "--arch", f"{files / 'usernet.py'}:make",
            "--arch-arg", "width=5", "--epochs", "2", "--device", "cpu", "--json", *more)


def test_train_a_user_model_on_npz_data(cli, files, home):
    result = cli(*train_args(files, "--seeds", "0-1"))
    assert result.code == 0, result.stderr
    runs = result.json["runs"] if isinstance(result.json, dict) else result.json
    assert [r["status"] for r in runs] == ["done", "done"]
    shown = cli("show", runs[0]["id"], "--json").json
    model = shown["config"]["model"]
    assert model["arch"] == f"{files / 'usernet.py'}:make" and model["arch_args"] == {"width": 5}
    assert len(model["source_sha256"]) == 64 and len(shown["config"]["data"]["sha256"]) == 64


@pytest.mark.parametrize("args, fragment", [
    (("--arch", "no_such_module_here:make"), "no module named"),
    (("--arch", "usernet.py:broken"), "raised RuntimeError: no such layer"),
    (("--arch", "usernet.py:missing"), "has no function or class missing"),
    (("--dataset", "npz:three.npz"), "has no y_test"),
    (("--dataset", "folder:."), "has no train/ folder"),
    (("--arch-arg", "oops"), "KEY=VALUE"),
])
def test_bad_input_is_one_line_and_registers_nothing(cli, files, home, monkeypatch, args, fragment):
    monkeypatch.chdir(files)
    base = {"--dataset": "npz:d.npz", "--arch": "usernet.py:make"}
    flags = dict(zip(args[::2], args[1::2]))
    argv = ["train", "--epochs", "1", "--device", "cpu"]
    for flag in ("--dataset", "--arch"):
        argv += [flag, flags.pop(flag, base[flag])]
    for flag, value in flags.items():
        argv += [flag, value]
    before = registry_bytes(home)
    result = cli(*argv)
    assert result.code == 2, result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert registry_bytes(home) == before


def test_import_weights_trained_elsewhere(cli, files, home):
    from safetensors.torch import save_file

    from tests.test_usermodel import MODEL_SOURCE  # noqa: F401  (the same kind of file)
    import importlib.util

    spec = importlib.util.spec_from_file_location("usernet_for_test", files / "usernet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(3)
    net = module.make((4,), 3, width=5)
    save_file({f"module.{k}": v for k, v in net.state_dict().items()}, str(files / "w.safetensors"))
    torch.save({"k": torch.zeros(2)}, files / "bad.pt")
    common = ("--arch", f"{files / 'usernet.py'}:make", "--arch-arg", "width=5", "--dataset",
              f"npz:{files / 'd.npz'}", "--device", "cpu")
    refused = cli("import", str(files / "bad.pt"), *common)
    assert refused.code == 2 and len(refused.stderr.strip().splitlines()) == 1
    result = cli("import", str(files / "w.safetensors"), *common, "--key-prefix", "module.", "--tag", "ext", "--json")
    assert result.code == 0, result.stderr
    run = result.json["runs"][0]
    with np.load(files / "d.npz") as d:
        x, y = torch.from_numpy(d["x_test"]), torch.from_numpy(d["y_test"])
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(net(x), y).item()
    assert run["test_loss"] == pytest.approx(expected, rel=1e-5)
    shown = cli("show", run["id"], "--json").json
    assert shown["source"] == "imported" and shown["source_file"] == str(files / "w.safetensors")
    assert "ext" in shown["run"]["tags"] and shown["run"]["kind"] == "imported"


def test_align_a_user_model_keeps_its_function_and_changed_data_is_refused(cli, files, home):
    trained = cli(*train_args(files, "--seeds", "0-1"))
    assert trained.code == 0, trained.stderr
    a, b = (r["id"] for r in trained.json["runs"])
    spec = cli("spec", f"{files / 'usernet.py'}:make", "--dataset", f"npz:{files / 'd.npz'}", "--arch-arg", "width=5",
               "--json", use_home=False)
    assert spec.code == 0, spec.stderr
    assert spec.json["verified"] is True and {g["size"] for g in spec.json["groups"]} == {5}
    aligned = cli("align", a, b, "--method", "weight", "--device", "cpu", "--json")
    assert aligned.code == 0, aligned.stderr
    permuted = cli("show", aligned.json["alignment"]["aligned_run"], "--json").json["run"]
    original = cli("show", b, "--json").json["run"]
    assert permuted["test_loss"] == pytest.approx(original["test_loss"], abs=1e-5)
    x = np.zeros((90, 4), np.float32)
    np.savez(files / "d.npz", x_train=x, y_train=np.arange(90) % 3, x_test=x[:30], y_test=np.arange(30) % 3)
    refused = cli("interp", a, b, "--device", "cpu")
    assert refused.code == 2 and "changed since the run was made" in refused.stderr
