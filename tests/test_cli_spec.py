"""`lmctui-cli spec`: the permutation spec of an architecture, checked against the model."""

import pytest

from test_layers import run_cli


def test_spec_json_lists_every_group_with_its_axes_and_verifies(cli):
    result = cli("spec", "vgg", "--dataset", "digits", "--width", "1", "--norm", "batch", "--json", use_home=False)
    assert result.code == 0, result.stderr
    doc = result.json
    assert doc["verified"] is True and doc["pinned"] == {} and doc["permutable_share"] == 1.0
    assert doc["model"]["input_shape"] == [1, 8, 8] and doc["model"]["num_classes"] == 10
    groups = {g["name"]: g for g in doc["groups"]}
    assert len(groups) == 4 and groups["P_conv0"]["size"] == 16
    assert ["norms.0.running_var", 0] in groups["P_conv0"]["axes"] and ["convs.1.weight", 1] in groups["P_conv0"]["axes"]
    every_axis = [tuple(a) for g in doc["groups"] for a in g["axes"]]
    assert len(every_axis) == len(set(every_axis))  # no weight axis under two groups


@pytest.mark.parametrize("arch,dataset", [("vit", "digits"), ("gpt", "modadd")])
def test_spec_of_a_transformer_holds_one_group_per_block_of_heads(cli, arch, dataset):
    result = cli("spec", arch, "--dataset", dataset, "--width", "1", "--depth", "3", "--heads", "4", "--json",
                 use_home=False)
    assert result.code == 0, result.stderr
    doc = result.json
    assert doc["verified"] is True
    heads = {}
    for group in doc["groups"]:
        if group.get("block_group"):
            heads.setdefault(group["block_group"], []).append(group)
    assert len(heads) == 3  # one block group per block
    for members in heads.values():  # queries/keys and values/output, each in 4 heads of 8 dimensions
        assert len(members) == 2 and all(m["blocks"] == 4 and m["size"] == 32 for m in members)
    listed = {g["name"]: (g["blocks"], g["block_size"], sorted(g["members"])) for g in doc["block_groups"]}
    assert listed == {name: (4, 8, sorted(m["name"] for m in members)) for name, members in heads.items()}


@pytest.mark.parametrize("arch,dataset", [("vit", "digits"), ("gpt", "modadd")])
def test_a_transformer_without_a_data_set_gets_one_it_can_read(cli, arch, dataset):
    result = cli("spec", arch, "--heads", "2", "--json", use_home=False)
    assert result.code == 0, result.stderr
    assert result.json["dataset"] == dataset and result.json["verified"] is True
    assert [g["blocks"] for g in result.json["block_groups"]] == [2, 2]  # the default 2 blocks, 2 heads each


def test_spec_table_shows_groups_and_the_check(cli):
    result = cli("spec", "resnet20", "--dataset", "digits", "--width", "1", use_home=False)
    assert result.code == 0, result.stderr
    assert "P_stream0" in result.stdout and "hidden units" in result.stdout and "yes" in result.stdout


@pytest.mark.parametrize("args", [["spec", "transformer"], ["spec", "mlp", "--arch-arg", "width=3"],
                                  ["spec", "vgg", "--dataset", "mnsit"]])
def test_spec_refusals_are_one_line_without_torch(args):
    code, stderr, heavy = run_cli(*args)
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert "torch" not in heavy


def test_a_traced_spec_that_fails_its_check_is_refused_before_anything_is_registered(cli, monkeypatch):
    """Align a model whose spec comes from tracing, with the tracer made to forget a bias."""
    from lmctui.core import specs
    from lmctui.core.permutation import HAND_WRITTEN, PermutationSpec, mlp_spec
    from lmctui.core.tracing import TracedSpec

    runs = cli("train", "--width", "8", "--seeds", "0,1", "--epochs", "1", "--json").json["runs"]
    monkeypatch.delitem(HAND_WRITTEN, "mlp")  # mlp now takes the traced path, like a model of your own

    def forgetful(model, example):
        good = mlp_spec(specs.ModelConfig("mlp", 8, 2))
        return TracedSpec(PermutationSpec({**good.axes, "hidden.1.bias": (None,)}), {}, 16, 16)

    monkeypatch.setattr(specs, "trace_spec", forgetful)
    monkeypatch.setattr(specs, "_CACHE", {})
    result = cli("align", runs[0]["id"], runs[1]["id"], "--method", "weight", "--json")
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hidden.1.bias" in result.stderr
    assert cli("list", "alignments", "--json").json["alignments"] == []
    assert len(cli("list", "--json").json["runs"]) == 2
