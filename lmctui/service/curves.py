"""Stored curves as data: one per identity, every alpha, long-format export. No torch here.

Two curves with one identity (`lmctui.identities`: the same pair, method, grid, data set
and settings) are repeats of one measurement. Listings and exports show the newest of
each (saying how many older ones they left out); nothing stored is changed by reading.
"""

from __future__ import annotations

from pathlib import Path

from lmctui.identities import curve_identity, matching_settings, newest_per_identity
from lmctui.records import CURVE_FIELDS, CURVE_POINT_FIELDS, CURVE_SERIES, LISTINGS, filter_docs, view, write_csv
from lmctui.store import Registry


def identity_of(registry: Registry):
    """doc -> its curve identity, with the alignments read once."""
    alignments = {d["id"]: d for d in registry.all("alignments")}
    return lambda doc: curve_identity(doc, alignments.get(doc.get("alignment")))


def distinct_curves(registry: Registry, docs: list[dict] | None = None) -> tuple[list[dict], int]:
    """The newest stored curve of each identity, oldest first, and how many repeats were left out."""
    docs = sorted(registry.all("curves") if docs is None else docs, key=lambda d: d.get("created") or "")
    return newest_per_identity(docs, identity_of(registry))


def list_curves(registry: Registry, filters: list[tuple[str, str]] = ()) -> tuple[list[dict], int]:
    """`list curves`: one row per identity (the newest), filtered like `list`; and the repeats hidden."""
    kept, hidden = distinct_curves(registry)
    fields = LISTINGS["curves"].fields
    return [view(d, fields) for d in filter_docs(kept, list(filters), [], fields)], hidden


def settings_of(registry: Registry, doc: dict) -> dict:
    """The matching settings a curve was measured with (from its alignment): seed, restarts, STE options."""
    alignment = registry.get("alignments", doc["alignment"]) if doc.get("alignment") else None
    if alignment is None:
        return {}
    return {"seed": alignment.get("seed"), **dict(matching_settings(doc.get("method"), alignment))}


def show_curve(registry: Registry, prefix: str) -> dict:
    """A curve's record, its settings, and every alpha with train/test loss and accuracy."""
    doc = registry.resolve("curves", prefix)
    return {"curve": view(doc, CURVE_FIELDS), "settings": settings_of(registry, doc), "points": points_of(doc)}


def points_of(doc: dict) -> list[dict]:
    """One row per alpha: alpha, train_loss, test_loss, train_acc, test_acc."""
    series = [doc.get(k) or [] for k in CURVE_SERIES]
    return [dict(zip(CURVE_SERIES, values)) for values in zip(*series)]


def curve_point_rows(registry: Registry, filters: list[tuple[str, str]] = ()) -> tuple[list[dict], int, int]:
    """Long format: one row per (curve, alpha) of the newest curve of each identity, with the
    pair, the method, its settings and every metric; (rows, curves, repeats left out)."""
    kept, hidden = distinct_curves(registry)
    kept = filter_docs(kept, list(filters), [], LISTINGS["curves"].fields)
    rows = []
    for doc in kept:
        settings = settings_of(registry, doc)
        fixed = {**view(doc, CURVE_FIELDS), "curve": doc["id"], **settings}
        rows += [{**fixed, **point} for point in points_of(doc)]
    return rows, len(kept), hidden


def export_curves(registry: Registry, out: str | Path, filters: list[tuple[str, str]] = ()) -> dict:
    rows, curves, hidden = curve_point_rows(registry, filters)
    path = write_csv(out, rows, CURVE_POINT_FIELDS, registry.home)
    return {"path": str(path), "rows": len(rows), "curves": curves, "repeats_left_out": hidden}


def stored_curve(registry: Registry, identity: tuple) -> dict | None:
    """The newest stored curve with this identity, or None."""
    same_as = identity_of(registry)
    found = [d for d in registry.all("curves") if same_as(d) == identity]
    return max(found, key=lambda d: d.get("created") or "") if found else None


def remove_repeats(registry: Registry, keep: str, identity: tuple) -> int:
    """Remove every stored curve with this identity except `keep` (`interp --recompute`)."""
    same_as = identity_of(registry)
    gone = [d["id"] for d in registry.all("curves") if d["id"] != keep and same_as(d) == identity]
    for curve_id in gone:
        registry.remove("curves", curve_id)
    return len(gone)
