"""Cycle consistency of pairwise alignments across K runs, against shared frames.

For runs a, b, c the map from c to a found directly should equal the one through b.
This measures how often it does, and what it costs: the barrier along the direct map,
along the composed one, and along the maps of two alignments of all K runs into one
frame, consistent by construction: the shared frame (C2M3-style, `universe`) and
MergeMany's.

`check_consistency` refuses bad input without torch (the CLI calls it first); the
numerics are imported only by `consistency` itself.
"""

from __future__ import annotations

import itertools
from typing import Callable

from lmctui.configs import CONSISTENCY_POINTS, MAX_POINTS, MAX_SEED, InterpolationOptions, check_device, check_int
from lmctui.errors import FieldError
from lmctui.service.catalog import resolve_runs
from lmctui.service.requests import Matching
from lmctui.service.stopping import current
from lmctui.store import Registry

MIN_RUNS = 3  # a triangle
MAX_RUNS = 16  # K runs make K(K-1)/2 matchings and K(K-1)(K-2)/6 triangles
Progress = Callable[[float, str], None]  # (fraction done, what is being done)


def check_consistency(registry: Registry, runs: list[str], seed: int = 0, matching: Matching = Matching(),
                      points: int = CONSISTENCY_POINTS, device: str = "auto") -> list[dict]:
    """Everything that can be refused without torch; returns the runs' documents."""
    if not MIN_RUNS <= len(runs) <= MAX_RUNS:
        raise FieldError("runs", f"must name {MIN_RUNS} to {MAX_RUNS} runs (a triangle needs three), got {len(runs)}")
    for run in runs:
        if not (isinstance(run, str) and 0 < len(run.strip()) <= 64 and run.isprintable()):
            raise FieldError("runs", f"must be run ids or unique prefixes, got {run!r}")
    check_int(seed, "seed", 0, MAX_SEED)
    check_int(points, "points", 2, MAX_POINTS)
    matching.validate()
    check_device(device)
    return resolve_runs(registry, runs)


def consistency(registry: Registry, runs: list[str], seed: int = 0, matching: Matching = Matching(),
                points: int = CONSISTENCY_POINTS, device: str = "auto", on_progress: Progress | None = None) -> dict:
    """Cycle consistency of the runs' pairwise weight matchings, and the barriers it costs.

    `overall` is the fraction of hidden units that the direct map P_ac and the composed map
    P_ab P_bc send to the same place, over every triangle a < b < c (`per_group`: per
    permutation group; each triangle's own fraction with it). Barriers are test loss
    barriers on a grid of `points` alphas.
    """
    check_consistency(registry, runs, seed, matching, points, device)
    from lmctui.core.consistency import (best_responses, composed_map, cycle_consistency, frame_map, frame_objective,
                                         pair_map, pairwise_weight_matching, universe_alignment)
    from lmctui.core.interpolation import interpolate
    from lmctui.core.permutation import apply_permutation, identity_perms
    from lmctui.core.specs import spec_for
    from lmctui.service.loaded import LoadedRuns

    report = on_progress or (lambda fraction, text: None)
    stop = current()  # between pairs, rounds and alphas: the caller's Ctrl-C, say (service/stopping.py)
    options = InterpolationOptions(points=points, refine=False).validate()
    loaded = LoadedRuns.load(registry, runs, device)
    spec, states = spec_for(loaded.model), [r.state for r in loaded.runs]
    k = len(states)
    restarts = matching.restarts_for(loaded.model.arch)
    report(0.0, f"weight matching {k * (k - 1) // 2} pairs ({restarts} restart(s) each)")
    pairwise = pairwise_weight_matching(spec, states, seed=seed, restarts=restarts, should_stop=stop)
    measured = cycle_consistency(pairwise, k)
    report(0.3, "one shared frame (C2M3-style)")
    shared = universe_alignment(spec, states, seed=seed, restarts=restarts, should_stop=stop)
    report(0.5, "MergeMany")
    merged, merge_rounds = best_responses(spec, states, [identity_perms(spec, s) for s in states], seed,
                                          should_stop=stop)
    report(0.6, "barriers")

    def barrier(a: int, c: int, perms) -> float:
        moved = apply_permutation(spec, perms, states[c])
        return interpolate(loaded.model, states[a], moved, loaded.data, options,
                           should_stop=stop).summary()["loss_barrier_test"]

    triangles = []
    for (a, b, c), agreed in measured.per_triangle.items():
        triangles.append({"runs": [loaded[i].id for i in (a, b, c)], "consistent": agreed,
                          "barrier_direct": barrier(a, c, pair_map(pairwise, a, c)),
                          "barrier_composed": barrier(a, c, composed_map(pairwise, a, b, c)),
                          "barrier_shared": barrier(a, c, shared.pairwise(a, c))})
    pairs = [{"runs": [loaded[i].id, loaded[j].id], "barrier_direct": barrier(i, j, pair_map(pairwise, i, j)),
              "barrier_shared": barrier(i, j, shared.pairwise(i, j)),
              "barrier_mergemany": barrier(i, j, frame_map(merged, i, j))}
             for i, j in itertools.combinations(range(k), 2)]
    report(1.0, "done")
    return {"runs": [r.id for r in loaded.runs], "seed": seed, "restarts": restarts, "points": points,
            "overall": measured.overall, "per_group": dict(measured.per_group), "triangles": triangles,
            "pairs": pairs,
            "shared_frame": {"objective": shared.objective, "start_objective": shared.start_objective,
                             "rounds": shared.rounds, "seconds": shared.seconds},
            "mergemany": {"objective": frame_objective(spec, states, merged), "rounds": merge_rounds}}
