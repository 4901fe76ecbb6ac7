"""The science use cases with the second round's options: restarts, STE, refinement, K-way
averaging in one frame, and BatchNorm endpoints compared like with like."""

import pytest

from lmctui.configs import InterpolationOptions, STEOptions
from lmctui.service.catalog import open_registry
from lmctui.service.requests import AlignRequest, AverageRequest, InterpRequest, Matching, TrainRequest
from lmctui.service import science
from lmctui.service.training import train_runs
from lmctui.configs import DataConfig, TrainConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlps(tmp_path_factory):
    registry = open_registry(tmp_path_factory.mktemp("science") / "home")
    runs = train_runs(registry, TrainRequest(DataConfig("moons", n_samples=400), width=12, depth=2,
                                             seeds=(0, 1, 2), train=TrainConfig(epochs=6), device="cpu"))
    return registry, [r["id"] for r in runs]


def test_restarts_keep_the_best_objective_and_record_every_one(mlps):
    registry, (a, b, _) = mlps
    record = science.align(registry, AlignRequest(a, b, "weight", seed=3, device="cpu", matching=Matching(restarts=5)))
    assert len(record["restart_objectives"]) == 5 and record["restarts"] == 5
    assert record["objective"] == pytest.approx(max(record["restart_objectives"]))
    assert record["restart_objectives"][record["best_restart"]] == pytest.approx(record["objective"])
    again = science.align(registry, AlignRequest(a, b, "weight", seed=3, device="cpu", matching=Matching(restarts=5)))
    other = science.align(registry, AlignRequest(a, b, "weight", seed=3, device="cpu", matching=Matching(restarts=2)))
    assert again["reused"] and again["id"] == record["id"]
    assert not other["reused"] and len(other["restart_objectives"]) == 2


def test_ste_alignment_is_never_worse_than_identity_at_the_midpoint(mlps):
    registry, (a, b, _) = mlps
    matching = Matching(ste=STEOptions(steps=15, batch_size=64, lr=1e-2))
    steps = []
    record = science.align(registry, AlignRequest(a, b, "ste", device="cpu", matching=matching),
                           on_step=lambda step, total, loss: steps.append((step, total)))
    assert record["method"] == "ste" and record["midpoint_loss"] <= record["identity_loss"] + 1e-9
    assert steps and steps[-1][1] == 15


def test_refined_barriers_are_never_below_the_grid_and_say_where(mlps):
    registry, (a, b, _) = mlps
    curves = science.interp(registry, InterpRequest(a, b, ("naive", "weight"), InterpolationOptions(points=5),
                                                    device="cpu"))
    for curve in curves:
        for metric in ("loss", "error"):
            assert curve[f"{metric}_barrier_test_refined"] >= curve[f"{metric}_barrier_test"] - 1e-9
            assert 0.0 <= curve[f"{metric}_barrier_test_alpha"] <= 1.0
    plain = science.interp(registry, InterpRequest(a, b, ("naive",), InterpolationOptions(points=5, refine=False),
                                                   device="cpu"))
    assert plain[0]["loss_barrier_test_refined"] is None


@pytest.mark.parametrize("method", ["ste", "universe"])
def test_new_averaging_methods_register_an_average(mlps, method):
    registry, runs = mlps
    matching = Matching(ste=STEOptions(steps=5, batch_size=64))
    result = science.average(registry, AverageRequest(tuple(runs), method, device="cpu", matching=matching))
    assert result["method"] == method and 0.0 <= result["test_acc"] <= 1.0
    assert registry.get("runs", result["averaged_run"])["status"] == "done"


def test_batchnorm_endpoints_are_also_reported_after_the_same_reset(tmp_path):
    registry = open_registry(tmp_path / "home")
    runs = train_runs(registry, TrainRequest(DataConfig("digits"), "vgg", 1, norm="batch", seeds=(0, 1),
                                             train=TrainConfig(epochs=1), device="cpu"))
    result = science.average(registry, AverageRequest(tuple(r["id"] for r in runs), "naive", device="cpu"))
    for endpoint in result["endpoints"]:
        assert {"test_acc_reset", "test_loss_reset"} <= endpoint.keys()
        assert 0.0 <= endpoint["test_acc_reset"] <= 1.0
