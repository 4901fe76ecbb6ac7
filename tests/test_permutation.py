import pytest
import torch

from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import (PermutationSpec, apply_permutation, compose, identity_perms, invert,
                                     random_perms, spec_for)
from lmctui.core.training import TrainConfig, train
from nets import CONFIGS, config_id, inputs, random_net


def permuted_copy(config, model, seed):
    spec = spec_for(config)
    state = model.state_dict()
    perms = random_perms(spec, state, torch.Generator().manual_seed(seed))
    twin = build_model(config)
    twin.load_state_dict(apply_permutation(spec, perms, state))
    return twin.eval(), perms


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_spec_names_every_weight_exactly_once(config):
    state = build_model(config).state_dict()
    spec = spec_for(config)
    spec.check_covers(state)
    for key, axes in spec.axes.items():
        assert len(axes) == state[key].ndim, key


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_permuted_random_network_computes_the_same_function(config):
    model = random_net(config, seed=0)
    twin, perms = permuted_copy(config, model, seed=1)
    assert any(not torch.equal(v, torch.arange(len(v))) for v in perms.values())
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))
    x = inputs(config)
    torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-5)


TRAINED = [ModelConfig("mlp", 16, 2, "none", (1, 8, 8), 10), ModelConfig("vgg", 1, 0, "none", (1, 8, 8), 10),
           *[ModelConfig("vgg", 1, 0, norm, (1, 8, 8), 10) for norm in ("batch", "layer")],
           *[ModelConfig("resnet20", 1, 0, norm, (1, 8, 8), 10) for norm in ("none", "batch", "layer")]]


@pytest.mark.parametrize("config", TRAINED, ids=config_id)
def test_permuted_trained_network_computes_the_same_function(config):
    data = load_dataset(DataConfig("digits"))
    result = train(config, TrainConfig(epochs=1, lr=0.02), data, torch.device("cpu"))
    model = build_model(config)
    model.load_state_dict(result.state_dict)
    model.eval()
    twin, _ = permuted_copy(config, model, seed=3)
    torch.testing.assert_close(twin(data.x_test), model(data.x_test), rtol=1e-4, atol=1e-4)


def test_a_wrong_spec_is_caught_by_the_function_check():
    """The invariant test has teeth: forgetting the bias axis changes the function."""
    config = CONFIGS[0]
    model = random_net(config, seed=0)
    spec = spec_for(config)
    broken = PermutationSpec({**spec.axes, "hidden.0.bias": (None,)})
    state = model.state_dict()
    perms = random_perms(spec, state, torch.Generator().manual_seed(1))
    twin = build_model(config)
    twin.load_state_dict(apply_permutation(broken, perms, state))
    x = inputs(config)
    assert not torch.allclose(twin(x), model(x), atol=1e-3)


def test_apply_permutation_is_pure_and_invertible():
    config = CONFIGS[1]
    state = random_net(config, 0).state_dict()
    before = {k: v.clone() for k, v in state.items()}
    spec = spec_for(config)
    perms = random_perms(spec, state, torch.Generator().manual_seed(2))
    permuted = apply_permutation(spec, perms, state)
    assert all(torch.equal(state[k], before[k]) for k in state)
    back = apply_permutation(spec, invert(perms), permuted)
    assert all(torch.equal(back[k], state[k]) for k in state)
    twice = apply_permutation(spec, perms, permuted)
    once = apply_permutation(spec, compose(perms, perms), state)
    assert all(torch.equal(twice[k], once[k]) for k in state)
    identity = apply_permutation(spec, identity_perms(spec, state), state)
    assert all(torch.equal(identity[k], state[k]) for k in state)


def test_resnet_streams_share_one_permutation_per_stage():
    spec = spec_for(ModelConfig("resnet20", 1, 0, "batch", (3, 8, 8), 10))
    assert spec.axes["blocks.1.conv2.weight"][0] == spec.axes["blocks.0.conv2.weight"][0] == "P_stream0"
    assert spec.axes["stem_conv.weight"][0] == "P_stream0"
    assert spec.axes["blocks.3.shortcut_conv.weight"][:2] == ("P_stream1", "P_stream0")
    assert spec.axes["blocks.3.norm1.running_var"] == ("P_block3",)
    assert sum(p.startswith("P_stream") for p in spec.perm_axes) == 3
    assert sum(p.startswith("P_block") for p in spec.perm_axes) == 9
