"""Basins: group runs by the barriers between them (from the stored curves). No torch here.

Whether K networks share one near-convex basin or fall into distinct basins (different
strategies) shows in their pairwise barrier matrix: hierarchical clustering with a
threshold the user sets groups them (`lmctui.core.basins`, numpy and scipy only, imported
only once the input has passed every check, so a refusal costs milliseconds).

Each pair's barrier is that of its newest stored curve of the chosen method (REPAIR
curves aside): `naive`, one aligning method, or `aligned`, the lowest barrier among the
aligning methods' curves (what "up to permutation" means: the best alignment found).
"""

from __future__ import annotations

import math
from pathlib import Path

from lmctui.choices import LINKAGES
from lmctui.errors import FieldError, RegistryError, UserError
from lmctui.records import write_csv
from lmctui.service.catalog import distinct
from lmctui.service.methods import align_methods, curve_methods
from lmctui.store import Registry

METRICS = ("loss_barrier_test", "error_barrier_test", "loss_barrier_train", "error_barrier_train")
MAX_RUNS = 1024
# One row per network, as `export basins` writes it.
BASIN_ROW_FIELDS = ("run", "basin", "basin_size", "within_mean", "nearest_other", "method", "metric", "threshold",
                    "linkage", "dataset", "arch", "width", "depth", "norm", "seed", "kind")


def check_basins(run_ids: list[str], threshold: float, method: str = "aligned", metric: str = "loss_barrier_test",
                 linkage: str = "average") -> None:
    """The options, refused without reading anything."""
    methods = ("aligned", *curve_methods())  # aligned: the lowest barrier of any alignment
    if method not in methods:
        raise FieldError("method", f"must be one of {', '.join(methods)}, got {method!r}")
    if metric not in METRICS:
        raise FieldError("metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")
    if linkage not in LINKAGES:
        raise FieldError("linkage", f"must be one of {', '.join(LINKAGES)}, got {linkage!r}")
    if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and math.isfinite(threshold)
            and threshold >= 0):
        raise FieldError("threshold", f"must be a finite barrier >= 0, got {threshold!r}")
    if not 2 <= len(run_ids) <= MAX_RUNS:
        raise FieldError("runs", f"must name 2 to {MAX_RUNS} runs, got {len(run_ids)}")


def barrier_matrix(registry: Registry, ids: list[str], method: str = "aligned",
                   metric: str = "loss_barrier_test") -> list[list[float | None]]:
    """The (K, K) matrix of stored barriers of `method` (None where a pair has no such curve)."""
    wanted = align_methods() if method == "aligned" else (method,)
    newest: dict[tuple[frozenset, str], float | None] = {}
    for doc in sorted(registry.all("curves"), key=lambda d: d.get("created") or ""):
        if doc.get("method") in wanted and not doc.get("repair"):
            value = doc.get(metric)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise RegistryError(f"curve {doc.get('id')} in {registry.home} has {metric} {str(value)[:40]!r}, "
                                    "not a number: the registry was changed by hand; nothing was computed")
            newest[(frozenset((doc.get("run_a"), doc.get("run_b"))), doc["method"])] = value
    matrix: list[list[float | None]] = [[0.0] * len(ids) for _ in ids]
    for i, j in ((i, j) for i in range(len(ids)) for j in range(i + 1, len(ids))):
        found = [v for m in wanted if (v := newest.get((frozenset((ids[i], ids[j])), m))) is not None
                 and math.isfinite(v)]
        matrix[i][j] = matrix[j][i] = min(found) if found else None
    return matrix


def basins(registry: Registry, run_ids: list[str], threshold: float, method: str = "aligned",
           metric: str = "loss_barrier_test", linkage: str = "average") -> dict:
    """Cluster the runs by their stored pairwise barriers; every pair needs a curve of `method`."""
    check_basins(run_ids, threshold, method, metric, linkage)
    docs = distinct([registry.resolve("runs", r) for r in run_ids])
    ids = [d["id"] for d in docs]
    matrix = barrier_matrix(registry, ids, method, metric)
    missing = [(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids)) if matrix[i][j] is None]
    if missing:
        which = f"aligned ({', '.join(align_methods()[:-1])} or {align_methods()[-1]})" if method == "aligned" \
            else method
        named = ", ".join("-".join(pair) for pair in missing[:4]) + (" ..." if len(missing) > 4 else "")
        runs = " ".join(ids) if len(ids) <= 8 else "RUNS..."
        raise UserError(f"{len(missing)} pair(s) have no {which} curve yet ({named}): interpolate the missing pairs "
                        f"with lmctui-cli interp {runs} --all-pairs --methods "
                        f"{'weight' if method == 'aligned' else method}")
    from lmctui.core.basins import barrier_basins

    found = barrier_basins(matrix, threshold, linkage)
    result = {"runs": ids, "method": method, "metric": metric, "matrix": matrix, **found.to_dict(),
              "members": [[ids[i] for i in group] for group in found.members()]}
    return {**result, "rows": basin_rows(result, docs)}


def basin_rows(result: dict, docs: list[dict]) -> list[dict]:
    """One row per network: its basin, the basin's size, its mean barrier to the rest of its
    basin and its lowest barrier to any other basin (None where there is no such network)."""
    labels, matrix = result["labels"], result["matrix"]
    rows = []
    for i, doc in enumerate(docs):
        within = [matrix[i][j] for j in range(len(docs)) if j != i and labels[j] == labels[i]]
        others = [matrix[i][j] for j in range(len(docs)) if labels[j] != labels[i]]
        rows.append({"run": doc["id"], "basin": labels[i], "basin_size": labels.count(labels[i]),
                     "within_mean": sum(within) / len(within) if within else None,
                     "nearest_other": min(others) if others else None, "method": result["method"],
                     "metric": result["metric"], "threshold": result["threshold"], "linkage": result["linkage"],
                     **{k: doc.get(k) for k in ("dataset", "arch", "width", "depth", "norm", "seed", "kind")}})
    return rows


def export_basins(registry: Registry, run_ids: list[str], out: str | Path, threshold: float,
                  method: str = "aligned", metric: str = "loss_barrier_test", linkage: str = "average") -> dict:
    """The basins of the runs, one row per network, as CSV."""
    found = basins(registry, run_ids, threshold, method, metric, linkage)
    path = write_csv(out, found["rows"], BASIN_ROW_FIELDS, registry.home)
    return {"path": str(path), "rows": len(found["rows"]), "count": found["count"], "labels": found["labels"]}
