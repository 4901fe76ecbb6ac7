"""The alignment methods: one registry entry each, read by every place that names a method.

An entry says how the method finds B's permutation (`match`, which imports its core
function inside the work), what makes two alignments by it the same (`settings`), which
matching options it reads (`uses`), and how `align`'s table shows it. The requests' checks,
the CLI's choices and help, the app's forms, curves, averages, sweeps and basins all read
the names from here, so a new method is its core function plus one `register(...)`; a test
registers its own and takes it away again (`registered`).

Torch-free at import: the CLI builds its help from this module.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Callable

from lmctui.service.stopping import current, raising

NAIVE = "naive"  # no alignment: the straight line between the weights as trained
# Ways to average that are not an alignment of one run to another: MergeMany's iterations, one shared frame.
AVERAGE_ONLY = {"mergemany": (), "universe": ("restarts",)}  # name -> the matching options it reads
DEFAULT_CURVE_METHODS = (NAIVE, "weight")  # a curve without alignment beside one with the cheapest alignment
DEFAULT_METHOD = "weight"  # align's and average's default


@dataclass(frozen=True)
class AlignMethod:
    """How one method permutes run B's hidden units to match run A."""

    name: str
    # (loaded, run_a, run_b, spec, how, on_step) -> {"perms": {group: indices}, ...fields the record keeps}
    match: Callable[..., dict]
    # (seed, matching, arch) -> what, beside the method and the seed, makes two alignments the same
    settings: Callable[..., dict] = lambda seed, matching, arch: {}
    uses: tuple[str, ...] = ()  # the matching options it reads: "restarts", "ste"
    columns: tuple[tuple[str, str], ...] = ()  # align's table after the pair: (record field, short label)
    title: str = "{run_b} permuted to match {run_a} by {method}"
    core_average: bool = False  # core.averaging aligns by it itself; else each run is aligned to the reference first


METHODS: dict[str, AlignMethod] = {}


def register(method: AlignMethod) -> AlignMethod:
    METHODS[method.name] = method
    return method


@contextlib.contextmanager
def registered(method: AlignMethod):
    """`method` registered for the duration of a `with` block (tests)."""
    register(method)
    try:
        yield method
    finally:
        METHODS.pop(method.name, None)


def align_methods() -> tuple[str, ...]:
    return tuple(METHODS)


def curve_methods() -> tuple[str, ...]:
    return (NAIVE, *METHODS)


def average_methods() -> tuple[str, ...]:
    return (NAIVE, *METHODS, *AVERAGE_ONLY)


def methods_using(option: str) -> tuple[str, ...]:
    """The methods (alignment and averaging) that read a matching option ("restarts", "ste")."""
    return tuple(n for n, m in METHODS.items() if option in m.uses) + \
        tuple(n for n, uses in AVERAGE_ONLY.items() if option in uses)


# -- the methods ------------------------------------------------------------------------

def _weight(loaded, run_a, run_b, spec, how: dict, on_step) -> dict:
    from lmctui.core.matching import weight_matching

    result = weight_matching(spec, run_a.state, run_b.state, seed=how["seed"], restarts=how["restarts"],
                             should_stop=current())
    return {"perms": result.perms, "iterations": result.iterations, "solves": result.solves,
            "objective": result.objective[-1] if result.objective else None,
            "objective_per_round": result.objective, "restart_objectives": result.restart_objectives,
            "best_restart": result.best_restart}


def _activation(loaded, run_a, run_b, spec, how: dict, on_step) -> dict:
    from lmctui.core.averaging import load
    from lmctui.core.interpolation import CALIBRATION_SAMPLES
    from lmctui.core.matching import activation_matching

    result = activation_matching(spec, load(run_a.model, run_a.state, loaded.device),
                                 load(run_b.model, run_b.state, loaded.device),
                                 loaded.data.x_train[:CALIBRATION_SAMPLES], should_stop=current())
    return {"perms": result.perms, "iterations": result.iterations, "solves": result.solves}


def _ste(loaded, run_a, run_b, spec, how: dict, on_step) -> dict:
    from lmctui.configs import STEOptions
    from lmctui.core.ste import ste_matching

    data = loaded.data
    result = ste_matching(run_a.model, spec, run_a.state, run_b.state, data.x_train, data.y_train,
                          STEOptions(**how["ste"]), on_step=on_step, should_stop=raising(),
                          restarts=how["restarts"])
    return {"perms": result.perms, "start_perms": result.start, "midpoint_loss": result.midpoint_loss,
            "identity_loss": result.identity_loss, "first_loss": result.first_loss, "best_step": result.best_step,
            "candidates": result.candidates, "step_losses": list(result.step_losses),
            "restart_objectives": list(result.start_objectives), "best_restart": result.start_restart}


register(AlignMethod(
    "weight", _weight, lambda seed, matching, arch: {"restarts": matching.restarts_for(arch)}, ("restarts",),
    (("iterations", "iterations"), ("objective", "objective"), ("restarts", "restarts"), ("best_restart", "kept")),
    "{run_b} permuted to match {run_a}: weight matching's objective <A, P(B)> and the restart kept",
    core_average=True))
register(AlignMethod("activation", _activation, columns=(("iterations", "iterations"),),
                     title="{run_b} permuted to match {run_a} by activation matching", core_average=True))
register(AlignMethod(  # straight-through estimator matching; the request's seed draws its batch order and, with
    # the restarts, the visiting orders of the weight matching it starts from (as weight matching's)
    "ste", _ste, lambda seed, matching, arch: {"ste": {**asdict(matching.ste), "seed": seed},
                                              "restarts": matching.restarts_for(arch)}, ("ste", "restarts"),
    (("midpoint_loss", "midpoint"), ("identity_loss", "identity"), ("best_step", "step")),
    "{run_b} permuted to match {run_a}: midpoint loss with the permutation kept, with none (identity), and the "
    "step that found it (-1: the identity)"))
