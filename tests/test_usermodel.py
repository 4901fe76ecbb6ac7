"""Your own models: resolution, recorded source, seeded init, vectorized seeds against one at a time."""

import textwrap

import pytest
import torch

from lmctui.configs import DataConfig, ModelConfig, TrainConfig
from lmctui.core.data import load_dataset
from lmctui.core.models import build_model
from lmctui.core.training import init_model, train
from lmctui.core.vectorized import train_many, vectorize_refusal
from lmctui.errors import FieldError, UserError
from lmctui.usermodel import (canonical_arch, parse_arch, parse_arch_arg, parse_arch_args, short_arch,
                              source_change, source_sha256)

MODEL_SOURCE = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, d, classes, width, norm):
            super().__init__()
            self.a = nn.Linear(d, width)
            self.norm = nn.BatchNorm1d(width) if norm else nn.LayerNorm(width)
            self.b = nn.Linear(width, classes)

        def forward(self, x):
            return self.b(torch.relu(self.norm(self.a(x.flatten(1)))))

    def make(input_shape, num_classes, width=8, norm=False):
        return Net(input_shape[0], num_classes, width, norm)

    def broken(input_shape, num_classes):
        raise RuntimeError("no such layer\\nsecond line")

    def not_a_module(input_shape, num_classes):
        return 3

    def fixed(input_shape, num_classes):
        return nn.Linear(input_shape[0], num_classes)
""")


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text(MODEL_SOURCE)
    return path


def config_for(arch, **kwargs):
    arch = canonical_arch(arch)
    return ModelConfig(arch, kwargs.pop("width", None), 2, "none", (2,), 2, kwargs, source_sha256(arch))


def test_arch_forms_and_arch_args():
    assert parse_arch("pkg.models:make").is_path is False
    assert parse_arch("models/net.py:make").is_path is True
    with pytest.raises(FieldError):
        parse_arch("pkg models:make")
    with pytest.raises(FieldError):
        parse_arch("pkg.models:")
    assert parse_arch_arg("width=16") == ("width", 16)
    assert parse_arch_arg("dims=[1, 2]") == ("dims", [1, 2])
    assert parse_arch_arg("act=gelu") == ("act", "gelu")  # not JSON: the string itself
    assert parse_arch_arg("flag=true") == ("flag", True)
    with pytest.raises(FieldError):
        parse_arch_args(["a=1", "a=2"])
    with pytest.raises(FieldError):
        parse_arch_arg("no-equals")


def test_a_file_is_found_by_path_and_recorded_absolute(model_file, monkeypatch):
    monkeypatch.chdir(model_file.parent)
    arch = canonical_arch("./my_models.py:make")
    assert arch == f"{model_file}:make"
    assert short_arch(arch) == "my_models.py:make"
    model = build_model(config_for("./my_models.py:make", width=5))
    assert model.a.out_features == 5


def test_bad_factories_are_one_line(model_file):
    for factory, fragment in (("broken", "raised RuntimeError: no such layer second line"),
                              ("not_a_module", "returned a int, not a torch.nn.Module"),
                              ("missing", "has no function or class missing")):
        with pytest.raises(UserError) as err:
            build_model(config_for(f"{model_file}:{factory}"))
        assert fragment in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FieldError, match="no module named"):
        source_sha256("surely_not_a_module_here:make")
    with pytest.raises(FieldError, match="takes no width"):
        build_model(config_for(f"{model_file}:fixed", width=3))


def test_a_file_inside_a_registry_home_is_refused(tmp_path):
    home = tmp_path / "home"
    (home / "runs").mkdir(parents=True)
    (home / "registry.json").write_text("{}")
    (home / "runs" / "evil.py").write_text(MODEL_SOURCE)
    with pytest.raises(FieldError, match="inside a registry home"):
        canonical_arch(f"{home / 'runs' / 'evil.py'}:make")


def test_a_changed_file_is_not_rebuilt_and_a_changed_module_is_noticed(model_file):
    config = config_for(f"{model_file}:make")
    build_model(config)
    model_file.write_text(MODEL_SOURCE + "\n# edited\n")
    with pytest.raises(UserError, match="changed since the run was made"):
        build_model(config)
    assert "changed since the run was made" in source_change(config.arch, config.source_sha256)
    assert source_change(config.arch, source_sha256(config.arch)) is None


def test_the_init_is_drawn_from_the_seed(model_file):
    config = config_for(f"{model_file}:make")
    a, b, c = (init_model(config, seed).state_dict() for seed in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["a.weight"], c["a.weight"])


def test_vectorized_seeds_follow_the_trajectories_they_follow_alone(model_file):
    data = load_dataset(DataConfig("moons", n_samples=200))
    config = config_for(f"{model_file}:make")
    assert vectorize_refusal(config) is None
    seeds = [TrainConfig(epochs=2, batch_size=32, init_seed=s, data_seed=s) for s in (0, 1, 2)]
    together = train_many(config, seeds, data, torch.device("cpu"))
    for result, seed in zip(together, seeds):
        alone = train(config, seed, data, torch.device("cpu"))
        for name, tensor in alone.state_dict.items():
            torch.testing.assert_close(result.state_dict[name], tensor, rtol=1e-4, atol=1e-5)


def test_batchnorm_trains_one_seed_at_a_time(model_file):
    reason = vectorize_refusal(config_for(f"{model_file}:make", norm=True))
    assert reason is not None and "BatchNorm" in reason


def test_arch_args_belong_to_user_models_only():
    with pytest.raises(FieldError, match="your own models"):
        ModelConfig("mlp", arch_args={"x": 1}).validate()
    assert "arch_args" not in ModelConfig().to_dict()  # built-in runs' stored configs are unchanged


def test_a_changed_module_is_imported_with_one_notice(tmp_path, monkeypatch):
    import lmctui.usermodel as usermodel

    (tmp_path / "mod_changing.py").write_text(MODEL_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    heard = []
    monkeypatch.setattr(usermodel, "notice_sink", heard.append)
    config = config_for("mod_changing:make")
    (tmp_path / "mod_changing.py").write_text(MODEL_SOURCE + "\n# edited\n")
    build_model(config)
    build_model(config)
    assert len(heard) == 1 and "mod_changing:make" in heard[0] and "changed since" in heard[0]
