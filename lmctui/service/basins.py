"""Basins: group runs by the barriers between them (from the stored curves). No torch here.

Whether K networks share one near-convex basin or fall into distinct basins (different
strategies) shows in their pairwise barrier matrix: hierarchical clustering with a
threshold the user sets groups them (`lmctui.core.basins`, numpy and scipy only).
"""

from __future__ import annotations

from lmctui.core.basins import LINKAGES, barrier_basins
from lmctui.errors import FieldError, UserError
from lmctui.service.views import pairwise_matrix
from lmctui.store import Registry

KINDS = ("naive", "aligned")  # the naive barrier, or the best aligned one, of each pair


def basins(registry: Registry, run_ids: list[str], threshold: float, kind: str = "aligned",
           metric: str = "loss_barrier_test", linkage: str = "average") -> dict:
    """Cluster the runs by their stored pairwise barriers; every pair needs a curve of `kind`."""
    if kind not in KINDS:
        raise FieldError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if linkage not in LINKAGES:
        raise FieldError("linkage", f"must be one of {', '.join(LINKAGES)}, got {linkage!r}")
    if not (isinstance(threshold, (int, float)) and 0 <= threshold < float("inf")):
        raise FieldError("threshold", f"must be a finite barrier >= 0, got {threshold!r}")
    ids = [registry.resolve("runs", r)["id"] for r in run_ids]
    if len(set(ids)) != len(ids) or len(ids) < 2:
        raise FieldError("runs", f"must name at least 2 different runs, got {', '.join(ids)}")
    cells = pairwise_matrix(registry, ids, metric)["cells"]
    missing = [f"{a}-{b}" for (a, b), cell in cells.items() if cell[kind] is None]
    if missing:
        raise UserError(f"{len(missing)} pair(s) have no {kind} curve yet ({', '.join(missing[:4])}"
                        f"{' ...' if len(missing) > 4 else ''}): interpolate them first")
    matrix = [[0.0 if a == b else (cells.get((a, b)) or cells[(b, a)])[kind] for b in ids] for a in ids]
    found = barrier_basins(matrix, threshold, linkage)
    return {"runs": ids, "kind": kind, "metric": metric, "matrix": matrix, **found.to_dict(),
            "members": [[ids[i] for i in group] for group in found.members()]}
