"""Use cases that open, read, remove and export registry entries. No torch here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lmctui.errors import UserError
from lmctui.records import CURVE_FIELDS, RUN_FIELDS, filter_docs, run_view, view, write_csv
from lmctui.store import Registry, resolve_home
from lmctui.store.runfiles import METRICS, read_metrics

MUST_MATCH = ("dataset", "arch", "width", "depth", "norm")  # what runs must share to be aligned


def open_registry(home: str | os.PathLike | None) -> Registry:
    """The registry at --home / $LMCTUI_HOME / ./lmc-runs, with dead runs marked interrupted."""
    registry = Registry(resolve_home(home))
    registry.mark_orphans_interrupted()
    return registry


def require_done(doc: dict) -> dict:
    if doc.get("status") != "done":
        raise UserError(f"run {doc['id']} is {doc.get('status')}, not done")
    return doc


def check_compatible(docs: list[dict]) -> None:
    """Refuse runs that cannot share a permutation spec, saying what differs."""
    first = docs[0]
    for other in docs[1:]:
        why = incompatibility(first, other)
        if why:
            raise UserError(why)


def incompatibility(a: dict, b: dict) -> str | None:
    """Why runs `a` and `b` cannot be aligned or interpolated, or None when they can."""
    for key in MUST_MATCH:
        if a.get(key) != b.get(key):
            return f"runs {a['id']} and {b['id']} differ in {key}: {a.get(key)} vs {b.get(key)}"
    model_a, model_b = a["config"]["model"], b["config"]["model"]
    for key in ("num_classes", "input_shape"):
        if _as_list(model_a[key]) != _as_list(model_b[key]):
            return (f"runs {a['id']} and {b['id']} differ in {key.replace('_', ' ')}: "
                    f"{model_a[key]} vs {model_b[key]}")
    return None


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def list_runs(registry: Registry, filters: list[tuple[str, str]] = (), tags: list[str] = ()) -> list[dict]:
    docs = sorted(registry.all("runs"), key=lambda d: d.get("created") or "")
    return [run_view(d) for d in filter_docs(docs, list(filters), list(tags))]


def show_run(registry: Registry, prefix: str) -> dict:
    doc = registry.resolve("runs", prefix)
    return {"run": run_view(doc), "config": doc.get("config"),
            "metrics": read_metrics(registry.run_dir(doc["id"]) / METRICS)}


def remove_run(registry: Registry, prefix: str) -> dict:
    doc = registry.resolve("runs", prefix)
    if doc.get("status") == "running":
        raise UserError(f"run {doc['id']} is running; cancel it first")
    registry.remove("runs", doc["id"])
    shutil.rmtree(registry.run_dir(doc["id"]), ignore_errors=True)
    return run_view(doc)


def export_runs(registry: Registry, out: str | Path, filters=(), tags=()) -> dict:
    rows = list_runs(registry, filters, tags)
    path = write_csv(out, rows, RUN_FIELDS)
    return {"path": str(path), "rows": len(rows)}


def export_barriers(registry: Registry, out: str | Path) -> dict:
    """One row per stored curve: the pair, their configs, the method and every barrier."""
    docs = sorted(registry.all("curves"), key=lambda d: d.get("created") or "")
    configs = {d["id"]: d.get("config") for d in registry.all("runs")}
    rows = [{**view(d, CURVE_FIELDS), "config_a": configs.get(d["run_a"]), "config_b": configs.get(d["run_b"])}
            for d in docs]
    path = write_csv(out, rows, CURVE_FIELDS + ("config_a", "config_b"))
    return {"path": str(path), "rows": len(rows)}
