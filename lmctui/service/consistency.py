"""Cycle consistency of pairwise alignments across K runs, against one shared frame.

For runs a, b, c the map from c to a found directly should equal the one through b.
This measures how often it does, and what it costs: the barrier along the direct map,
along the composed one, and along the maps of a shared-frame alignment (C2M3-style),
which are consistent by construction.
"""

from __future__ import annotations

import itertools

from lmctui.configs import InterpolationOptions
from lmctui.core.consistency import composed_map, cycle_consistency, pair_map, pairwise_weight_matching, \
    universe_alignment
from lmctui.core.interpolation import interpolate
from lmctui.core.permutation import apply_permutation, spec_for
from lmctui.errors import FieldError
from lmctui.service.loaded import LoadedRuns
from lmctui.service.requests import Matching
from lmctui.store import Registry

MAX_RUNS = 16  # K runs make K(K-1)/2 matchings and K(K-1)(K-2)/6 triangles


def consistency(registry: Registry, runs: list[str], seed: int = 0, matching: Matching = Matching(),
                points: int = 11, device: str = "auto") -> dict:
    """Cycle consistency of the runs' pairwise weight matchings, and the barriers it costs."""
    if not 3 <= len(runs) <= MAX_RUNS:
        raise FieldError("runs", f"must name 3 to {MAX_RUNS} runs (a triangle needs three), got {len(runs)}")
    options = InterpolationOptions(points=points, refine=False).validate()
    matching.validate()
    loaded = LoadedRuns.load(registry, runs, device)
    spec, states = spec_for(loaded.model), [r.state for r in loaded.runs]
    restarts = matching.restarts_for(loaded.model.arch)
    pairwise = pairwise_weight_matching(spec, states, seed=seed, restarts=restarts)
    measured = cycle_consistency(pairwise, len(states))
    shared = universe_alignment(spec, states, seed=seed, restarts=restarts)

    def barrier(a: int, c: int, perms) -> float:
        moved = apply_permutation(spec, perms, states[c])
        return interpolate(loaded.model, states[a], moved, loaded.data, options).summary()["loss_barrier_test"]

    triangles = []
    for (a, b, c), agreed in measured.per_triangle.items():
        triangles.append({"runs": [loaded[i].id for i in (a, b, c)], "consistent": agreed,
                          "barrier_direct": barrier(a, c, pair_map(pairwise, a, c)),
                          "barrier_composed": barrier(a, c, composed_map(pairwise, a, b, c)),
                          "barrier_shared": barrier(a, c, shared.pairwise(a, c))})
    pairs = [{"runs": [loaded[i].id, loaded[j].id], "barrier_direct": barrier(i, j, pair_map(pairwise, i, j)),
              "barrier_shared": barrier(i, j, shared.pairwise(i, j))}
             for i, j in itertools.combinations(range(len(states)), 2)]
    return {"runs": [r.id for r in loaded.runs], "restarts": restarts, "points": points,
            "overall": measured.overall, "per_group": dict(measured.per_group), "triangles": triangles,
            "pairs": pairs, "shared_frame": {"objective": shared.objective, "start_objective": shared.start_objective,
                                             "rounds": shared.rounds, "seconds": shared.seconds}}
