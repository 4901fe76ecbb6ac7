import itertools

import numpy as np
import pytest
import torch

from lmctui.configs import InterpolationOptions
from lmctui.core.basins import barrier_basins, barrier_distances
from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.interpolation import interpolate
from lmctui.core.matching import weight_matching
from lmctui.core.models import ModelConfig
from lmctui.core.permutation import apply_permutation, random_perms, spec_for
from lmctui.core.training import TrainConfig, train


def two_groups(sizes=(3, 4), within=0.02, between=0.8, seed=0):
    """A barrier matrix with two known groups, shuffled, plus the true grouping."""
    rng = np.random.default_rng(seed)
    group = np.repeat([0, 1], sizes)
    rng.shuffle(group)
    k = len(group)
    b = np.where(group[:, None] == group[None, :], within, between) * rng.uniform(0.5, 1.5, size=(k, k))
    np.fill_diagonal(b, 0.0)
    return b, group


def same_partition(labels, truth):
    return all((labels[i] == labels[j]) == (truth[i] == truth[j]) for i, j in itertools.combinations(range(len(truth)), 2))


@pytest.mark.parametrize("linkage", ["average", "complete"])
@pytest.mark.parametrize("seed", range(5))
def test_two_known_groups_are_recovered(linkage, seed):
    b, truth = two_groups(seed=seed)
    basins = barrier_basins(b, threshold=0.2, linkage=linkage)
    assert basins.count == 2 and same_partition(basins.labels, truth)
    assert basins.labels[0] == 0 and sorted(set(basins.labels)) == [0, 1]
    assert sorted(sum(basins.members(), [])) == list(range(len(truth)))
    # a threshold above every barrier makes one basin, below every barrier one per network
    assert barrier_basins(b, threshold=10.0, linkage=linkage).count == 1
    assert barrier_basins(b, threshold=0.001, linkage=linkage).count == len(truth)


def test_average_and_complete_linkage_differ_as_documented():
    # 0-1 and 1-2 close, 0-2 far: complete linkage refuses to put 0 and 2 together
    b = np.array([[0, 0.1, 0.5], [0.1, 0, 0.1], [0.5, 0.1, 0]])
    assert barrier_basins(b, 0.35, "average").count == 1  # mean of 0.1 and 0.5 is 0.3
    assert barrier_basins(b, 0.35, "complete").count == 2


def test_the_matrix_becomes_a_distance():
    b = np.array([[0.3, -0.2, 0.4], [0.0, 0.1, 0.6], [0.2, 0.8, 0.0]])
    d = barrier_distances(b)
    assert np.allclose(d, d.T) and np.all(d >= 0) and np.all(np.diag(d) == 0)
    assert d[0, 2] == pytest.approx(0.3) and d[0, 1] == 0.0
    with pytest.raises(ValueError, match="missing"):
        barrier_basins([[0, np.nan], [np.nan, 0]], 0.1)
    with pytest.raises(ValueError, match="linkage"):
        barrier_basins(b, 0.1, "single")
    assert barrier_basins([[0.0]], 0.1).labels == (0,)


def test_basins_of_real_networks_built_in_two_groups():
    """Two trained nets; each group is one net's permuted, slightly perturbed copies.

    Aligned by weight matching, copies of one net have no barrier; the two nets do.
    """
    data = load_dataset(DataConfig("digits"))
    config = ModelConfig("mlp", 8, 1, "none", data.input_shape, data.num_classes)
    spec = spec_for(config)
    parents = [train(config, TrainConfig(epochs=8, init_seed=s, data_seed=s), data, torch.device("cpu")).state_dict
               for s in (0, 1)]
    generator = torch.Generator().manual_seed(0)
    nets, truth = [], []
    for group, parent in [(0, parents[0]), (1, parents[1]), (0, parents[0]), (1, parents[1]), (0, parents[0])]:
        shuffled = apply_permutation(spec, random_perms(spec, parent, generator), parent)
        nets.append({k: v + 1e-3 * v.std() * torch.randn(v.shape, generator=generator) for k, v in shuffled.items()})
        truth.append(group)
    k = len(nets)
    barriers = np.zeros((k, k))
    for i, j in itertools.combinations(range(k), 2):
        aligned = apply_permutation(spec, weight_matching(spec, nets[i], nets[j]).perms, nets[j])
        curve = interpolate(config, nets[i], aligned, data, InterpolationOptions(points=9))
        barriers[i, j] = barriers[j, i] = curve.summary()["loss_barrier_test"]
    basins = barrier_basins(barriers, threshold=0.1)
    assert basins.count == 2 and same_partition(basins.labels, truth), barriers.round(3)
