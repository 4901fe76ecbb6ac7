"""ViT and GPT: their permutation symmetries (and no others), modadd, configs, training."""

import math

import pytest
import torch

from lmctui.configs import DataConfig, ModelConfig, TrainConfig
from lmctui.core.data import load_dataset
from lmctui.core.models import build_model
from lmctui.core.permutation import apply_permutation, check_blocks, random_perms, spec_for
from lmctui.core.training import train
from lmctui.core.vectorized import train_many
from lmctui.errors import FieldError


def vit(width=1, depth=2, heads=2, shape=(1, 8, 8), patch=None):
    return ModelConfig("vit", width, depth, "none", shape, 10, heads=heads, patch=patch)


def gpt(width=1, depth=2, heads=2, p=11):
    return ModelConfig("gpt", width, depth, "none", (3,), p, heads=heads)


SHAPES = [vit(depth=1, heads=1), vit(depth=2, heads=4), vit(width=2, depth=3, heads=8, shape=(3, 8, 8)),
          gpt(depth=1, heads=1), gpt(depth=2, heads=4), gpt(width=2, depth=3, heads=16)]


def shape_id(config):
    return f"{config.arch}-w{config.width}-d{config.depth}-h{config.heads}"


def random_float64_net(config, seed):
    """Every parameter random (LayerNorm affine and position embeddings too), in float64."""
    generator = torch.Generator().manual_seed(seed)
    model = build_model(config).double()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.normal_(0, 1 / math.sqrt(param.shape[-1]), generator=generator)
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                param.uniform_(0.5, 1.5, generator=generator)
    return model.eval()


def inputs(config, n=8, seed=1):
    generator = torch.Generator().manual_seed(seed)
    if config.arch == "gpt":
        return torch.randint(0, config.num_classes + 1, (n, 3), generator=generator)
    return torch.randn(n, *config.input_shape, generator=generator, dtype=torch.float64)


def permuted(config, model, perms):
    twin = build_model(config).double()
    twin.load_state_dict(apply_permutation(spec_for(config), perms, model.state_dict()))
    return twin.eval()


@pytest.mark.parametrize("config", SHAPES, ids=shape_id)
def test_a_random_permutation_of_every_group_keeps_the_function(config):
    model = random_float64_net(config, seed=0)
    spec = spec_for(config)
    spec.check_covers(model.state_dict())
    perms = random_perms(spec, model.state_dict(), torch.Generator().manual_seed(2))
    check_blocks(spec, perms)
    assert all(not torch.equal(v, torch.arange(len(v))) for v in perms.values())
    x = inputs(config)
    torch.testing.assert_close(permuted(config, model, perms)(x), model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", [vit(depth=3, heads=4), gpt(depth=2, heads=8)], ids=shape_id)
def test_the_spec_holds_one_head_group_per_block(config):
    spec = spec_for(config)
    assert sorted(spec.blocks) == [f"heads{i}" for i in range(config.depth)]
    for i, group in enumerate(spec.blocks[f"heads{i}"] for i in range(config.depth)):
        assert group.n_blocks == config.heads and group.perms == (f"P_qk{i}", f"P_vo{i}")
    assert spec.axes["pos_embed.weight"] == (None, "P_res")  # features only, never positions


@pytest.mark.parametrize("config", [vit(heads=4), gpt(heads=4)], ids=shape_id)
def test_moving_units_across_heads_changes_the_function(config):
    """The check has teeth: a free permutation of the query/key features splits heads."""
    model = random_float64_net(config, seed=0)
    spec = spec_for(config)
    perms = {p: torch.arange(n) for p, n in spec.perm_sizes(model.state_dict()).items()}
    perms["P_qk0"] = torch.randperm(len(perms["P_qk0"]), generator=torch.Generator().manual_seed(5))
    with pytest.raises(ValueError):
        check_blocks(spec, perms)
    x = inputs(config)
    assert (permuted(config, model, perms)(x) - model(x)).abs().max() > 1e-3


def test_position_embeddings_do_not_move_with_positions():
    config = gpt(heads=2)
    model = random_float64_net(config, seed=0)
    state = model.state_dict()
    state["pos_embed.weight"] = state["pos_embed.weight"][[1, 0, 2]]
    twin = build_model(config).double()
    twin.load_state_dict(state)
    x = inputs(config)
    assert (twin.eval()(x) - model(x)).abs().max() > 1e-3


def test_gpt_is_causal_and_reads_the_last_position():
    """Changing an earlier token changes the output; the causal mask keeps position 0 blind
    to later tokens (checked on the blocks' output at position 0)."""
    config = gpt(heads=2)
    model = random_float64_net(config, seed=0)
    x = inputs(config)
    y = x.clone()
    y[:, 2] = (y[:, 2] + 1) % (config.num_classes + 1)
    hidden = lambda t: model.run(model.token_embed(t))
    torch.testing.assert_close(hidden(y)[:, 0], hidden(x)[:, 0], rtol=0, atol=1e-12)
    assert (model(y) - model(x)).abs().max() > 1e-6


def test_modadd_holds_every_pair_once_with_its_sum():
    data = load_dataset(DataConfig("modadd", modulus=13, train_fraction=0.4))
    x = torch.cat([data.x_train, data.x_test])
    y = torch.cat([data.y_train, data.y_test])
    assert len(x) == 13 * 13 and len({tuple(r) for r in x.tolist()}) == 13 * 13
    assert torch.equal(x[:, 2], torch.full((169,), 13))
    assert torch.equal(y, (x[:, 0] + x[:, 1]) % 13)
    assert len(data.x_train) == round(0.4 * 169)
    again = load_dataset(DataConfig("modadd", modulus=13, train_fraction=0.4))
    assert torch.equal(again.x_train, data.x_train)  # one fixed split


@pytest.mark.parametrize("config, field", [
    (vit(width=1, heads=3), "heads"),
    (gpt(width=3, heads=64), "heads"),
    (vit(shape=(1, 8, 8), patch=3), "patch"),
    (vit(shape=(1, 28, 28), patch=5), "patch"),
    (ModelConfig("gpt", 1, 1, "none", (1, 8, 8), 10), "arch"),
    (ModelConfig("vit", 1, 1, "none", (3,), 97), "arch"),
    (ModelConfig("vit", 1, 0, "none", (1, 8, 8), 10), "depth"),
    (ModelConfig("vit", 1, 1, "batch", (1, 8, 8), 10), "norm"),
])
def test_bad_transformer_configs_are_refused_by_field(config, field):
    with pytest.raises(FieldError) as err:
        config.validate()
    assert err.value.field == field


def test_default_patches_tile_digits_and_mnist_into_16_tokens():
    assert vit(shape=(1, 8, 8)).patch_size == 2 and vit(shape=(1, 28, 28)).patch_size == 7
    assert build_model(vit(shape=(1, 28, 28))).pos_embed.weight.shape == (16, 32)


@pytest.mark.parametrize("bad", [0.2, 0.95, float("nan")])
def test_modadd_train_fraction_is_bounded(bad):
    with pytest.raises(FieldError):
        DataConfig("modadd", train_fraction=bad).validate()


def test_vectorized_seeds_follow_their_own_trajectories():
    data = load_dataset(DataConfig("digits"))
    config = vit(heads=2, depth=1)
    configs = [TrainConfig(optimizer="adam", lr=3e-3, epochs=1, init_seed=s, data_seed=s + 7) for s in (0, 1)]
    alone = [train(config, c, data, torch.device("cpu")) for c in configs]
    together = train_many(config, configs, data, torch.device("cpu"))
    for a, b in zip(alone, together):
        for key in a.state_dict:
            torch.testing.assert_close(b.state_dict[key], a.state_dict[key], rtol=1e-3, atol=1e-3)
        assert a.history[-1].test_loss < math.log(10) - 0.03  # learnt something: chance is log(10)


def test_gpt_fits_its_training_pairs():
    data = load_dataset(DataConfig("modadd", modulus=11, train_fraction=0.5))
    config = gpt(heads=2, depth=1, p=11)
    result = train(config, TrainConfig(optimizer="adam", lr=3e-3, batch_size=16, epochs=40), data,
                   torch.device("cpu"))
    assert result.train_acc > 0.9


def test_curves_and_averages_go_through_the_spec():
    from lmctui.configs import InterpolationOptions
    from lmctui.core.averaging import average
    from lmctui.core.evaluation import evaluate
    from lmctui.core.interpolation import interpolate

    data = load_dataset(DataConfig("digits"))
    config = vit(heads=2, depth=1)
    states = [build_model(config, torch.Generator().manual_seed(s)).state_dict() for s in range(3)]
    curve = interpolate(config, states[0], states[1], data, InterpolationOptions(points=3, refine=False))
    for state, test_loss in ((states[0], curve.test_loss[0]), (states[1], curve.test_loss[-1])):
        model = build_model(config)
        model.load_state_dict(state)
        assert test_loss == pytest.approx(evaluate(model, data.x_test, data.y_test)[0], abs=1e-5)
    merged = average(config, states, "mergemany", data)
    assert math.isfinite(merged.test_loss) and set(merged.state) == set(states[0])


@pytest.mark.parametrize("name", ["digits", "mnist-5k", "modadd", "moons"])
def test_known_input_shapes_are_the_loaded_ones(name):
    config = DataConfig(name)
    assert load_dataset(config).input_shape == config.known_input_shape
