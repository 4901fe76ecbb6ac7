import pytest
import torch
from torch import nn

from lmctui.core.models import ModelConfig, build_model
from lmctui.errors import UserError

CONFIGS = [
    ModelConfig("mlp", 16, 3, "none", (2,), 2),
    ModelConfig("mlp", 8, 1, "none", (1, 8, 8), 10),
    *[ModelConfig("vgg", 1, 0, norm, (1, 8, 8), 10) for norm in ("none", "batch", "layer")],
    *[ModelConfig("resnet20", 1, 0, norm, (3, 16, 16), 10) for norm in ("none", "batch", "layer")],
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.arch}-{c.norm}")
def test_models_map_inputs_to_class_logits(config):
    model = build_model(config, torch.Generator().manual_seed(0))
    out = model(torch.randn(5, *config.input_shape))
    assert out.shape == (5, config.num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.arch}-{c.norm}")
def test_init_depends_only_on_the_seed(config):
    a = build_model(config, torch.Generator().manual_seed(7)).state_dict()
    b = build_model(config, torch.Generator().manual_seed(7)).state_dict()
    c = build_model(config, torch.Generator().manual_seed(8)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point() and a[k].numel() > 1)


def test_mlp_has_depth_hidden_layers_of_width():
    model = build_model(ModelConfig("mlp", 32, 3, "none", (1, 8, 8), 10))
    shapes = [tuple(p.shape) for n, p in model.named_parameters() if n.endswith("weight")]
    assert shapes == [(32, 64), (32, 32), (32, 32), (10, 32)]


def test_resnet20_has_nineteen_3x3_convs_and_a_width_multiplier():
    for width in (1, 2):
        model = build_model(ModelConfig("resnet20", width, 0, "batch", (3, 32, 32), 10))
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        assert len(convs) == 19
        assert convs[-1].out_channels == 64 * width
        assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 21  # 19 + 2 shortcuts


def test_bad_model_configs_are_user_errors():
    with pytest.raises(UserError, match="arch must be one of"):
        ModelConfig("transformer").validate()
    with pytest.raises(UserError, match="width must be"):
        ModelConfig("mlp", 0).validate()
    with pytest.raises(UserError, match="image data"):
        ModelConfig("vgg", 1, input_shape=(2,)).validate()
