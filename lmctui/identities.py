"""What makes two stored results the same measurement (torch-free; documents in, keys out).

A curve is identified by what it measured: the pair, the method, the grid of alphas, the
data set and the split measured on (a study may measure on a subset), and every setting
that can change the numbers (the matching's seed, restarts and STE options; the BatchNorm
reset; REPAIR). Two curves with one identity are repeats:
listings and exports show the newest, and `interp` reuses it instead of storing another.
Alignments and averages are identified the same way by what made them.
"""

from __future__ import annotations

import json
from typing import Callable, Iterable

# Methods whose result for (A, B) is that of (B, A) read backwards. Naive interpolation
# is a straight line either way; activation matching solves one assignment per layer on a
# correlation matrix, and (B, A) sees its transpose, whose optimum is the inverse. Weight
# matching is not symmetric (its coordinate descent starts from the identity and visits
# in a seeded order), nor is STE (it learns its weights starting from A).
SYMMETRIC_METHODS = frozenset({"naive", "activation"})

Identity = tuple


def matching_settings(method: str, how: dict | None) -> tuple:
    """The settings of a matching that change its result, from an alignment document or
    the service's description of one (`method`, `seed`, `restarts`, `ste`).

    Documents stored before restarts were recorded made one restart.
    """
    how = how or {}
    if method == "weight":
        return ("seed", how.get("seed", 0)), ("restarts", how.get("restarts") or 1)
    if method == "ste":
        ste = json.dumps(how.get("ste") or {}, sort_keys=True)
        return ("restarts", how.get("restarts") or 1), ("ste", ste)
    return ()  # naive has no matching; activation matching has no seed


def pair_key(run_a: str, run_b: str, method: str) -> tuple[str, str]:
    """The pair as an identity sees it: unordered where the method is symmetric."""
    pair = (run_a, run_b)
    return tuple(sorted(pair)) if method in SYMMETRIC_METHODS else pair


def curve_identity(curve: dict, alignment: dict | None = None) -> Identity:
    """A curve document's identity; `alignment` is the document its `alignment` field names
    (None for naive curves, or when it is gone: then the alignment's id stands in)."""
    method = curve.get("method")
    if method != "naive" and alignment is None and curve.get("alignment"):
        settings: tuple = (("alignment", curve["alignment"]),)
    else:
        settings = matching_settings(method, alignment)
    return interp_identity(curve.get("run_a"), curve.get("run_b"), method, curve.get("points"), curve.get("dataset"),
                           curve.get("reset_bn", True), curve.get("repair", False), settings, curve.get("split"))


def interp_identity(run_a: str, run_b: str, method: str, points: int, dataset: str | None, reset_bn: bool,
                    repair: bool, settings: tuple, split: str | None = None) -> Identity:
    """The identity of the curve an interpolation would measure (before it is stored).
    `split`: the training and test images it is measured on ('4000/1000'; None in curves
    stored before it was recorded)."""
    return ("curve", pair_key(run_a, run_b, method), method, points, dataset, split, bool(reset_bn), bool(repair),
            tuple(settings))


def any_split(identity: Identity) -> Identity:
    """The identity with its split left open: what can be known of a curve before its data is loaded."""
    return identity[:5] + (None,) + identity[6:] if identity and identity[0] == "curve" else identity


def alignment_identity(alignment: dict) -> Identity:
    """An alignment document's identity: B aligned to A, so the pair is ordered."""
    method = alignment.get("method")
    return ("alignment", (alignment.get("run_a"), alignment.get("run_b")), method,
            matching_settings(method, alignment))


def average_identity(average: dict) -> Identity:
    """An average document's identity: its runs as a set, the reference they were aligned
    to (naive averaging has none that matters), the method and its settings."""
    method = average.get("method")
    reference = None if method == "naive" else average.get("reference")
    return ("average", tuple(sorted(average.get("runs") or ())), reference, method,
            ("seed", average.get("seed", 0)), ("restarts", average.get("restarts")),
            ("repair", bool(average.get("repair"))))


def newest_per_identity(docs: Iterable[dict], identity: Callable[[dict], Identity]) -> tuple[list[dict], int]:
    """The newest document of each identity (by `created`, then by position), in the
    order the kept documents came in, and how many older repeats were left out."""
    docs = list(docs)
    newest: dict[Identity, int] = {}
    for i, doc in enumerate(docs):
        key = identity(doc)
        j = newest.get(key)
        if j is None or (doc.get("created") or "") >= (docs[j].get("created") or ""):
            newest[key] = i
    kept = sorted(newest.values())
    return [docs[i] for i in kept], len(docs) - len(kept)
