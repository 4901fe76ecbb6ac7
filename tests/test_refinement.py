import math

import numpy as np
import pytest

from lmctui.configs import InterpolationOptions
from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.interpolation import alpha_grid, barrier, interpolate, point_evaluator
from lmctui.core.models import ModelConfig
from lmctui.core.refinement import refine_barrier, refine_curve
from nets import random_net


def narrow_peak(alpha, centre=0.53, width=0.01):
    """A smooth bump plus a peak far narrower than a 25-point grid's spacing (1/24)."""
    return 0.2 + 0.1 * alpha + 0.3 * alpha * (1 - alpha) + 0.5 * math.exp(-0.5 * ((alpha - centre) / width) ** 2)


def oracle(f):
    """The barrier and its alpha on a grid of a million points."""
    a = np.linspace(0, 1, 1_000_001)
    v = np.vectorize(f)(a)
    gap = v - ((1 - a) * v[0] + a * v[-1])
    return float(gap.max()), float(a[gap.argmax()])


@pytest.mark.parametrize("centre", [0.53, 0.512, 0.27])
def test_refinement_finds_a_narrow_peak_between_grid_points(centre):
    f = lambda a: narrow_peak(a, centre)  # noqa: E731
    alphas = alpha_grid(25)
    values = [f(a) for a in alphas]
    true_barrier, true_alpha = oracle(f)
    grid = barrier(alphas, values)
    assert grid < true_barrier - 0.05, "the grid alone misses the peak"
    refined = refine_barrier(alphas, values, f, points=14)
    assert refined.grid_barrier == pytest.approx(grid, abs=1e-12)
    assert refined.alpha == pytest.approx(true_alpha, abs=1e-3)
    assert refined.barrier == pytest.approx(true_barrier, abs=1e-4)
    assert refined.barrier <= true_barrier + 1e-12
    assert len(refined.alphas) == 14 and all(0.0 <= a <= 1.0 for a in refined.alphas)


@pytest.mark.parametrize("seed", range(20))
def test_refinement_never_falls_below_the_grid(seed):
    rng = np.random.default_rng(seed)
    alphas = alpha_grid(int(rng.integers(2, 12)))
    values = list(rng.normal(size=len(alphas)))
    refined = refine_barrier(alphas, values, lambda a: float(rng.normal()), points=5)
    assert refined.barrier >= barrier(alphas, values) - 1e-12
    assert refined.grid_barrier == pytest.approx(barrier(alphas, values), abs=1e-12)


def test_a_flat_curve_stays_at_zero_barrier():
    alphas = alpha_grid(5)
    refined = refine_barrier(alphas, [1.0] * 5, lambda a: 1.0, points=4)
    assert refined.barrier == pytest.approx(0.0, abs=1e-12)


def test_refining_a_real_curve_evaluates_as_the_grid_does():
    data = load_dataset(DataConfig("moons", n_samples=200))
    config = ModelConfig("mlp", 8, 2, "none", (2,), 2)
    a, b = random_net(config, 1).state_dict(), random_net(config, 2).state_dict()
    options = InterpolationOptions(points=7)
    curve = interpolate(config, a, b, data, options)
    at = point_evaluator(config, a, b, data, options)
    assert at(curve.alpha[3]) == pytest.approx((curve.train_loss[3], curve.train_acc[3], curve.test_loss[3],
                                               curve.test_acc[3]), rel=1e-5)
    refined = refine_curve(config, a, b, data, curve, options, split="test", metric="loss", points=6)
    assert refined.barrier >= curve.summary()["loss_barrier_test"] - 1e-6
    line = (1 - refined.alpha) * curve.test_loss[0] + refined.alpha * curve.test_loss[-1]
    assert at(refined.alpha)[2] - line == pytest.approx(refined.barrier, rel=1e-5, abs=1e-7)
    error = refine_curve(config, a, b, data, curve, options, split="train", metric="error", points=3)
    assert error.grid_barrier == pytest.approx(curve.summary()["error_barrier_train"], abs=1e-9)
    with pytest.raises(ValueError):
        refine_curve(config, a, b, data, curve, options, metric="accuracy")
