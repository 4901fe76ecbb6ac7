"""Traced permutation specs: the hand-written specs as the oracle, user-style models, the checker."""

import pytest
import torch
from torch import nn

from lmctui.core.matching import activation_matching, weight_matching
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import Joined, PermutationSpec, apply_permutation, random_perms, spec_for
from lmctui.core.spec_check import SpecRefused, verify_spec
from lmctui.core.specs import spec_for as any_spec_for
from lmctui.core.specs import spec_report as any_report
from lmctui.core.specs import traced_for
from lmctui.core.tracing import UntraceableModel, trace_spec
from nets import config_id, random_net

BUILT_INS = [*[ModelConfig("mlp", 6, depth, "none", (1, 4, 4), 3) for depth in (1, 2, 3, 4)],
             *[ModelConfig(arch, 1, 0, norm, (3, 8, 8), 10) for arch in ("vgg", "resnet20")
               for norm in ("none", "batch", "layer")]]


def groups(spec: PermutationSpec) -> set[frozenset]:
    """The spec up to names: each permutation as the set of (weight, axis) it acts on."""
    return {frozenset(axes) for axes in spec.perm_axes.values()}


def renamed(spec: PermutationSpec, oracle: PermutationSpec) -> PermutationSpec:
    """`spec` with each permutation called by the oracle's name for the same (weight, axis) set."""
    names = {spec.axes[k][a]: p for p, ((k, a), *_) in oracle.perm_axes.items()}
    axes = {k: tuple(names.get(p) for p in axes) for k, axes in spec.axes.items()}
    return PermutationSpec(axes, buffers=spec.buffers)


def example(config, n=4, seed=0):
    return torch.randn(n, *config.input_shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("config", BUILT_INS, ids=config_id)
def test_traced_spec_equals_the_hand_written_one(config):
    model = random_net(config, seed=0)
    traced = trace_spec(model, example(config))
    oracle = spec_for(config)
    assert groups(traced.spec) == groups(oracle)
    assert traced.spec.buffers == oracle.buffers
    assert set(traced.spec.axes) == set(oracle.axes)
    assert traced.pinned == {} and traced.permutable_share == 1.0
    assert verify_spec(traced.spec, model, example(config)).ok


@pytest.mark.parametrize("config", [BUILT_INS[1], BUILT_INS[5], BUILT_INS[9]], ids=config_id)
def test_weight_matching_with_the_traced_spec_matches_the_hand_written_one(config):
    a, b = random_net(config, seed=1).state_dict(), random_net(config, seed=2).state_dict()
    oracle = spec_for(config)
    traced = renamed(trace_spec(random_net(config, seed=0), example(config)).spec, oracle)
    with_oracle, with_traced = weight_matching(oracle, a, b, seed=3), weight_matching(traced, a, b, seed=3)
    assert with_traced.objective[-1] == pytest.approx(with_oracle.objective[-1], rel=1e-12)
    assert all(torch.equal(with_traced.perms[p], with_oracle.perms[p]) for p in with_oracle.perms)


@pytest.mark.parametrize("config", [BUILT_INS[2], BUILT_INS[5], BUILT_INS[8]], ids=config_id)
def test_activation_matching_with_traced_points_recovers_a_planted_permutation(config):
    model = random_net(config, seed=0)
    spec = trace_spec(model, example(config)).spec
    state = model.state_dict()
    planted = apply_permutation(spec, random_perms(spec, state, torch.Generator().manual_seed(1)), state)
    twin = build_model(config).eval()
    twin.load_state_dict(planted)
    found = activation_matching(spec, model, twin, example(config, n=256)).perms
    undone = apply_permutation(spec, found, planted)
    assert all(torch.equal(undone[k], state[k]) for k in state)


# -- user-style models ------------------------------------------------------------------------

class GroupNormCNN(nn.Module):
    """GroupNorm (grouped and one group), a residual block, a channel concatenation, a flatten."""

    def __init__(self, c=8):
        super().__init__()
        self.stem, self.gn0 = nn.Conv2d(1, c, 3, padding=1), nn.GroupNorm(2, c)
        self.conv, self.gn1 = nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(1, c)
        self.left, self.right = nn.Conv2d(c, c, 1), nn.Conv2d(c, c // 2, 1)
        self.mix, self.gn2 = nn.Conv2d(c + c // 2, c, 3, padding=1), nn.GroupNorm(4, c)
        self.fc, self.drop, self.out = nn.Linear(c * 2 * 2, 16), nn.Dropout(0.1), nn.Linear(16, 3)

    def forward(self, x):
        h = torch.relu(self.gn0(self.stem(x)))
        h = torch.relu(h + self.gn1(self.conv(h)))  # residual: one permutation for both
        h = torch.cat([self.left(h), self.right(h)], dim=1)
        h = torch.relu(self.gn2(self.mix(h)))
        h = nn.functional.adaptive_avg_pool2d(nn.functional.max_pool2d(h, 2), 2)
        return self.out(self.drop(torch.relu(self.fc(h.flatten(1)))) * 0.5)


def test_group_norm_cnn_with_residual_and_concatenation():
    model, x = GroupNormCNN().eval(), torch.randn(4, 1, 8, 8)
    traced = trace_spec(model, x)
    spec = traced.spec
    stream = spec.axes["stem.weight"][0]
    assert stream is not None
    assert spec.axes["conv.weight"] == (stream, stream, None, None)  # the residual shares one permutation
    assert spec.axes["gn1.weight"] == (stream,) and spec.axes["left.weight"][1] == stream
    assert [g.n_blocks for g in spec.blocks.values() if stream in g.perms] == [2]  # GroupNorm(2) keeps groups
    assert spec.axes["fc.weight"][0] is not None and spec.axes["out.weight"] == (None, spec.axes["fc.weight"][0])
    left, right, mix = spec.axes["left.weight"][0], spec.axes["right.weight"][0], spec.axes["mix.weight"][0]
    assert spec.axes["mix.weight"][1] == Joined(((left, 8, 1), (right, 4, 1)))  # each part keeps its own
    assert spec.axes["fc.weight"][1] == Joined(((mix, 8, 4),))  # a channel becomes 2x2 features
    assert traced.pinned == {} and traced.permutable_share == 1.0
    assert verify_spec(spec, model, x).ok


def test_weight_matching_undoes_a_planted_permutation_through_concatenation_and_flatten():
    a = GroupNormCNN().state_dict()
    spec = trace_spec(GroupNormCNN(), torch.randn(2, 1, 8, 8)).spec
    b = apply_permutation(spec, random_perms(spec, a, torch.Generator().manual_seed(4)), a)
    found = weight_matching(spec, a, b, seed=0).perms
    undone = apply_permutation(spec, found, b)
    assert all(torch.equal(undone[k], a[k]) for k in a)


def test_soft_permutation_matrices_move_joined_axes_as_the_hard_permutation_does():
    from lmctui.core.consistency import _soft_moved

    state = GroupNormCNN().state_dict()
    spec = trace_spec(GroupNormCNN(), torch.randn(2, 1, 8, 8)).spec
    perms = random_perms(spec, state, torch.Generator().manual_seed(5))
    mats = {p: torch.eye(len(v))[v].unsqueeze(0) for p, v in perms.items()}  # row u picks unit perms[p][u]
    soft = _soft_moved(spec, {k: v.unsqueeze(0) for k, v in state.items() if v.is_floating_point()}, mats)
    hard = apply_permutation(spec, perms, state)
    assert all(torch.allclose(soft[k][0], hard[k]) for k in soft)


def test_torchvision_resnet18_is_traced_fully_and_verified():
    torchvision = pytest.importorskip("torchvision")
    model, x = torchvision.models.resnet18(num_classes=10), torch.randn(2, 3, 32, 32)
    traced = trace_spec(model, x)
    assert traced.pinned == {} and traced.permutable_share == 1.0
    spec = traced.spec
    assert spec.axes["layer1.0.conv2.weight"][0] == spec.axes["conv1.weight"][0]  # stage-1 stream
    assert spec.axes["layer2.0.downsample.0.weight"][0] == spec.axes["layer2.1.conv2.weight"][0]
    assert "layer1.0.bn1.running_var" in spec.buffers
    assert verify_spec(spec, model, x).ok


class Untraceable(nn.Module):
    """A layer the tracer has no rule for (a cumulative sum over the channels)."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(5, 6), nn.Linear(6, 7), nn.Linear(7, 2)

    def forward(self, x):
        h = torch.relu(self.a(x))
        h = torch.cumsum(torch.relu(self.b(h)), dim=1)
        return self.c(h)


def test_a_layer_without_a_rule_pins_its_units_and_the_rest_stays_permutable():
    model, x = Untraceable(), torch.randn(4, 5)
    traced = trace_spec(model, x)
    assert traced.spec.axes["b.weight"] == (None, traced.spec.axes["a.weight"][0])
    assert traced.spec.axes["a.weight"][0] is not None and traced.spec.axes["c.weight"] == (None, None)
    assert list(traced.pinned) == ["b"] and "cumsum" in traced.pinned["b"]
    assert traced.permutable_share == pytest.approx(6 / 13)
    assert verify_spec(traced.spec, model, x).ok


def test_data_dependent_control_flow_is_refused_in_one_line():
    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(UntraceableModel) as caught:
        trace_spec(Branchy(), torch.randn(2, 3))
    assert "\n" not in str(caught.value) and isinstance(caught.value, ValueError)


# -- the checker ------------------------------------------------------------------------------

def test_a_wrong_hand_made_spec_is_caught_naming_the_weight():
    config = BUILT_INS[7]  # resnet20 without norms
    model = random_net(config, seed=0)
    good = spec_for(config)
    bad_bias = dict(good.axes, **{"blocks.4.conv1.bias": (None,)})
    check = verify_spec(PermutationSpec(bad_bias, buffers=good.buffers), model, example(config))
    assert not check.ok and check.first_bad == "blocks.4.conv1.bias" and check.max_rel_error > 1e-3
    crossed = dict(good.axes, **{"blocks.1.conv2.weight": ("P_stream0", "P_stream0", None, None)})
    check = verify_spec(PermutationSpec(crossed, buffers=good.buffers), model, example(config))
    assert not check.ok and check.first_bad == "blocks.1.conv2.weight"
    with pytest.raises(SpecRefused, match="blocks.1.conv2.weight"):
        check.require()


def test_spec_for_serves_any_model_config_through_a_factory_and_caches_it():
    calls = []

    def build(config):
        calls.append(config)
        return GroupNormCNN()

    config = ModelConfig("user_models:cnn", 1, 0, "none", (1, 8, 8), 3)
    spec = any_spec_for(config, build)
    assert spec.axes["stem.weight"][0] is not None
    assert any_spec_for(config, build) is spec and len(calls) == 1
    assert traced_for(config, build)[1].ok
    assert any_spec_for(BUILT_INS[0]) == spec_for(BUILT_INS[0])


class Attention(nn.Module):
    """Pre-LayerNorm self-attention with separate projections, written out or fused (sdpa)."""

    def __init__(self, width=16, heads=4, fused=False):
        super().__init__()
        self.heads, self.fused = heads, fused
        self.embed, self.norm = nn.Linear(3, width), nn.LayerNorm(width)
        self.query, self.key, self.value, self.out = (nn.Linear(width, width) for _ in range(4))
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        x = self.embed(x)  # (B, T, D)
        B, T, D = x.shape
        q, k, v = (f(self.norm(x)).view(B, T, self.heads, D // self.heads).transpose(1, 2)
                   for f in (self.query, self.key, self.value))  # (B, H, T, D/H)
        if self.fused:
            mixed = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            mixed = (q @ k.transpose(-2, -1) / (D // self.heads) ** 0.5).softmax(-1) @ v
        x = x + self.out(mixed.transpose(1, 2).reshape(B, T, D))
        return self.head(x[:, -1])


@pytest.mark.parametrize("fused", [False, True], ids=["matmul", "sdpa"])
def test_attention_heads_move_as_whole_blocks_queries_with_keys(fused):
    model, x = Attention(fused=fused), torch.randn(2, 5, 3)
    traced = trace_spec(model, x)
    spec = traced.spec
    qk, vo, stream = spec.axes["query.weight"][0], spec.axes["value.weight"][0], spec.axes["embed.weight"][0]
    assert spec.axes["key.weight"] == (qk, stream) and spec.axes["out.weight"] == (stream, vo)
    assert len({qk, vo, stream}) == 3 and None not in (qk, vo, stream)
    assert list(spec.blocks.values())[0].perms == (qk, vo) and list(spec.blocks.values())[0].n_blocks == 4
    assert traced.pinned == {}
    assert verify_spec(spec, model, x).ok


def test_multihead_attention_module_is_pinned_not_guessed():
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.attn = nn.Linear(16, 16), nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            h = self.inner(x)
            return self.attn(h, h, h)[0]

    model, x = Wrapped(), torch.randn(2, 5, 16)
    traced = trace_spec(model, x)
    assert "attn" in traced.pinned and traced.spec.axes["inner.weight"][0] is not None
    assert verify_spec(traced.spec, model, x).ok


def test_spec_report_lists_groups_with_their_axes_and_the_verification():
    config = ModelConfig("vgg", 1, 0, "layer", (1, 8, 8), 10)
    report = any_report(config)
    assert report["source"] == "hand-written" and report["verified"] is True and report["pinned"] == {}
    assert report["permutable_share"] == 1.0
    by_name = {g["name"]: g for g in report["groups"]}
    assert by_name["P_conv0"]["size"] == 16
    assert ["convs.0.weight", 0] in by_name["P_conv0"]["axes"] and ["convs.1.weight", 1] in by_name["P_conv0"]["axes"]
    user = any_report(ModelConfig("user_models:untraceable", 1, 0, "none", (5,), 2), lambda c: Untraceable())
    assert user["source"] == "traced" and user["verified"] is True and list(user["pinned"]) == ["b"]


def test_depthwise_convolution_and_in_place_activations_carry_units_other_groups_pin():
    class Separable(nn.Module):
        def __init__(self):
            super().__init__()
            self.expand, self.bn = nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8)
            self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.pointwise = nn.Conv2d(8, 8, 1)
            self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            h = nn.functional.relu6(self.bn(self.expand(x)))
            h = self.grouped(self.pointwise(nn.functional.silu(self.depthwise(h), inplace=True)))
            return self.head(h.mean((2, 3)))

    model, x = Separable().eval(), torch.randn(2, 3, 6, 6)
    traced = trace_spec(model, x)
    spec = traced.spec
    stream = spec.axes["expand.weight"][0]
    assert stream is not None and spec.axes["depthwise.weight"] == (stream, None, None, None)
    assert spec.axes["depthwise.bias"] == (stream,) and spec.axes["pointwise.weight"] == (None, stream, None, None)
    assert spec.axes["grouped.weight"] == (None,) * 4
    assert list(traced.pinned) == ["pointwise"] and "groups=2" in traced.pinned["pointwise"]
    assert verify_spec(spec, model, x).ok


def test_a_spec_forgetting_a_running_statistic_fails_even_on_a_fresh_model():
    config = BUILT_INS[5]  # VGG with BatchNorm, fresh: running means 0, variances 1
    model, good = build_model(config), spec_for(config)
    assert verify_spec(good, model, example(config)).ok
    forgot = dict(good.axes, **{"norms.2.running_var": (None,)})
    check = verify_spec(PermutationSpec(forgot, buffers=good.buffers), model, example(config))
    assert not check.ok and check.first_bad == "norms.2.running_var"


class ClassToken(nn.Module):
    """A ViT-style front: a learned class token expanded and concatenated, a sliced position embedding."""

    def __init__(self, width=8):
        super().__init__()
        self.embed, self.norm = nn.Linear(4, width), nn.LayerNorm(width)
        self.cls, self.pos = nn.Parameter(torch.randn(1, 1, width)), nn.Parameter(torch.randn(1, 10, width))
        self.fc1, self.fc2, self.head = nn.Linear(width, 16), nn.Linear(16, width), nn.Linear(width, 3)

    def forward(self, x):  # (B, T, 4)
        h = self.embed(x)
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1) + self.pos[:, :h.shape[1] + 1]
        h = h + self.fc2(torch.relu(self.fc1(self.norm(h))))
        return self.head(h[:, 0])


def test_learned_tokens_follow_the_stream_through_expand_cat_and_slice():
    model, x = ClassToken(), torch.randn(2, 5, 4)
    traced = trace_spec(model, x)
    stream = traced.spec.axes["embed.weight"][0]
    assert traced.spec.axes["cls"] == (None, None, stream) and traced.spec.axes["pos"] == (None, None, stream)
    assert traced.pinned == {} and verify_spec(traced.spec, model, x).ok


def test_a_weight_also_read_where_no_rule_applies_is_pinned():
    class Peeks(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.c = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.c(torch.relu(self.a(x))) + torch.cumsum(self.a.bias, 0)[:2]

    model, x = Peeks(), torch.randn(2, 3)
    traced = trace_spec(model, x)
    assert "cumsum" in traced.pinned["a"] and traced.spec.axes["a.weight"] == (None, None)
    assert verify_spec(traced.spec, model, x).ok


def block_groups(spec: PermutationSpec) -> set:
    """The spec's block groups up to names: each as its members' (weight, axis) sets and its block count."""
    axes = spec.perm_axes
    return {(frozenset(frozenset(axes[p]) for p in group.perms), group.n_blocks) for group in spec.blocks.values()}


TRANSFORMERS = [("vit", 1, 1, 2, (1, 8, 8), 10), ("vit", 1, 2, 4, (1, 8, 8), 10), ("gpt", 1, 2, 2, (3,), 97),
                ("gpt", 2, 3, 8, (3,), 97)]


@pytest.mark.parametrize("arch,width,depth,heads,shape,classes", TRANSFORMERS,
                         ids=[f"{t[0]}-d{t[2]}-h{t[3]}" for t in TRANSFORMERS])
def test_traced_transformer_specs_equal_the_hand_written_ones(arch, width, depth, heads, shape, classes):
    from lmctui.choices import ARCHS

    if arch not in ARCHS:
        pytest.skip("the built-in transformers are not in this tree")
    config = ModelConfig(arch, width, depth, "none", shape, classes, heads=heads)
    traced, check = traced_for(config)
    oracle = spec_for(config)
    assert groups(traced.spec) == groups(oracle) and traced.spec.buffers == oracle.buffers
    assert block_groups(traced.spec) == block_groups(oracle) and len(oracle.blocks) == depth
    assert traced.pinned == {} and check.ok
