"""What counts as the same run: config, seed and the path the training took."""

import pytest

pytestmark = pytest.mark.slow


def test_a_sweep_reuses_only_runs_trained_along_the_same_path(cli):
    args = ["sweep", "--widths", "6", "--epochs", "2", "--points", "3", "--methods", "naive", "--json"]
    assert cli(*args, "--seeds", "2").code == 0
    trained = [r for r in cli("list", "--json").json["runs"] if r["kind"] == "trained"]
    assert len(trained) == 2
    assert cli(*args, "--seeds", "2").code == 0  # the same path: reused
    assert len([r for r in cli("list", "--json").json["runs"] if r["kind"] == "trained"]) == 2
    # seeds 0 and 1 trained beside seed 2 took another path: trained again, not reused
    assert cli(*args, "--seeds", "3").code == 0
    assert len([r for r in cli("list", "--json").json["runs"] if r["kind"] == "trained"]) == 5


def test_the_stored_config_names_the_path(cli):
    [alone] = cli("train", "--width", "6", "--epochs", "1", "--json").json["runs"]
    pair = cli("train", "--width", "6", "--epochs", "1", "--seeds", "0,1", "--json").json["runs"]
    shown = [cli("show", r["id"], "--json").json["config"]["path"] for r in [alone, *pair]]
    assert shown[0] == {"vectorized": False, "device": "cpu", "trained_with": [0]}
    assert shown[1] == shown[2] == {"vectorized": True, "device": "cpu", "trained_with": [0, 1]}
