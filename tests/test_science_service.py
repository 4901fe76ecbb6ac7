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
                                                   device="cpu", recompute=True))
    assert plain[0]["loss_barrier_test_refined"] is None and not plain[0]["reused"]
    again = science.interp(registry, InterpRequest(a, b, ("naive",), InterpolationOptions(points=5), device="cpu"))
    assert again[0]["loss_barrier_test_refined"] is not None, "a stored curve without the refinement asked is redone"
    assert [c["id"] for c in registry.all("curves") if c["method"] == "naive" and {c["run_a"], c["run_b"]} == {a, b}] \
        == [again[0]["id"]]


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


def test_permuted_copies_of_one_network_are_fully_consistent_at_no_barrier(tmp_path):
    import torch

    from lmctui.core.permutation import apply_permutation, identity_perms, spec_for
    from lmctui.service.consistency import consistency
    from lmctui.service.loaded import LoadedRuns

    registry = open_registry(tmp_path / "home")
    [run] = train_runs(registry, TrainRequest(DataConfig("moons", n_samples=300), width=8, depth=2,
                                              train=TrainConfig(epochs=3), device="cpu"))
    loaded = LoadedRuns.load(registry, [run["id"]], "cpu")
    spec = spec_for(loaded.model)
    generator = torch.Generator().manual_seed(0)
    copies = []
    for _ in range(2):
        perms = {p: torch.randperm(len(v), generator=generator) for p, v in identity_perms(spec, loaded[0].state).items()}
        state = apply_permutation(spec, perms, loaded[0].state)
        copies.append(science.register_derived(loaded, loaded[0].doc, state, "aligned", parent=run["id"]))
    found = consistency(registry, [run["id"], *copies], matching=Matching(restarts=1), points=5, device="cpu")
    assert found["overall"] == 1.0 and set(found["per_group"].values()) == {1.0}
    for entry in found["triangles"] + found["pairs"]:
        for key in ("barrier_direct", "barrier_composed", "barrier_shared"):
            assert abs(entry.get(key, 0.0)) < 1e-4


def test_basins_recover_two_known_groups_from_stored_barriers(tmp_path):
    from lmctui.errors import UserError
    from lmctui.service.basins import basins

    registry = open_registry(tmp_path / "home")
    ids = [d["id"] for d in registry.insert_many("runs", [{"kind": "trained", "status": "done"} for _ in range(4)])]
    group = {ids[0]: 0, ids[1]: 0, ids[2]: 1, ids[3]: 1}
    curves = []
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            barrier = 0.02 if group[a] == group[b] else 0.9
            curves += [{"run_a": a, "run_b": b, "method": m, "loss_barrier_test": barrier + (0.3 if m == "naive" else 0)}
                       for m in ("naive", "weight")]
    registry.insert_many("curves", curves)
    found = basins(registry, ids, threshold=0.2)
    assert found["count"] == 2 and sorted(map(sorted, found["members"])) == sorted([sorted(ids[:2]), sorted(ids[2:])])
    assert basins(registry, ids, threshold=0.2, method="naive")["count"] == 4  # naive barriers all exceed 0.3
    assert basins(registry, ids, threshold=0.2, method="weight")["count"] == 2
    assert basins(registry, ids, threshold=5.0)["count"] == 1
    assert [r["basin"] for r in found["rows"]] == found["labels"] and {r["basin_size"] for r in found["rows"]} == {2}
    with pytest.raises(UserError, match="no ste curve"):
        basins(registry, ids, 0.2, method="ste")
    with pytest.raises(UserError, match="no aligned"):
        basins(registry, ids + [registry.insert("runs", {"kind": "trained", "status": "done"})["id"]], 0.2)


def test_the_aligned_barrier_of_a_pair_is_its_lowest_aligned_curve_and_the_newest_of_each_method(tmp_path):
    from lmctui.service.basins import barrier_matrix

    registry = open_registry(tmp_path / "home")
    a, b = (d["id"] for d in registry.insert_many("runs", [{"kind": "trained", "status": "done"} for _ in range(2)]))
    registry.insert_many("curves", [
        {"run_a": a, "run_b": b, "method": "weight", "loss_barrier_test": 0.5, "created": "1"},
        {"run_a": b, "run_b": a, "method": "weight", "loss_barrier_test": 0.3, "created": "2"},  # newer, either way
        {"run_a": a, "run_b": b, "method": "ste", "loss_barrier_test": 0.2, "created": "1"},
        {"run_a": a, "run_b": b, "method": "ste", "loss_barrier_test": 0.01, "created": "3", "repair": True},
        {"run_a": a, "run_b": b, "method": "naive", "loss_barrier_test": 0.9, "created": "1"}])
    assert barrier_matrix(registry, [a, b], "aligned") == [[0.0, 0.2], [0.2, 0.0]]
    assert barrier_matrix(registry, [a, b], "weight") == [[0.0, 0.3], [0.3, 0.0]]
    assert barrier_matrix(registry, [a, b], "activation") == [[0.0, None], [None, 0.0]]


def test_the_torch_free_names_agree_with_the_numerics():
    from lmctui.core.basins import LINKAGES
    from lmctui.service import basins

    assert basins.LINKAGES == LINKAGES


def test_merge_many_is_the_best_responses_of_the_shared_frame_from_the_identity():
    import torch

    from lmctui.core.averaging import merge_many
    from lmctui.core.consistency import best_responses, frame_objective
    from lmctui.core.models import ModelConfig, build_model
    from lmctui.core.permutation import apply_permutation, identity_perms, spec_for

    config = ModelConfig("mlp", 6, 2, "none", (3,), 2)
    spec = spec_for(config)
    states = [build_model(config, torch.Generator().manual_seed(s)).state_dict() for s in range(3)]
    merged, rounds = merge_many(config, states, seed=4)
    perms, same_rounds = best_responses(spec, states, [identity_perms(spec, s) for s in states], seed=4)
    assert rounds == same_rounds
    for state, perm, expected in zip(states, perms, merged):
        moved = apply_permutation(spec, perm, state)
        assert all(torch.equal(moved[k], expected[k]) for k in expected)
    assert frame_objective(spec, states, perms) >= frame_objective(spec, states, [identity_perms(spec, s)
                                                                                 for s in states]) - 1e-9


def test_a_queued_ste_alignment_reports_its_steps_as_job_progress(mlps):
    from lmctui.service.jobs import execute

    registry, (a, b, _) = mlps
    request = AlignRequest(a, b, "ste", device="cpu", matching=Matching(ste=STEOptions(steps=8, batch_size=64)))
    reports = []
    result = execute(registry, {"id": "job000", "kind": "align", "params": request.to_params()},
                     lambda: None, lambda fraction, text: reports.append((fraction, text)))
    assert registry.get("alignments", result["alignment"])["method"] == "ste"
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(0 < f <= 1 for f in fractions)
    assert all(text.startswith("STE step ") for _, text in reports) and reports[-1][1].startswith("STE step 8/8")
