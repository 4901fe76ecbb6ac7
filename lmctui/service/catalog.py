"""Use cases that open, read, remove and export registry entries. No torch here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lmctui.choices import DEPTH_ARCHS
from lmctui.errors import FieldError, UserError
from lmctui.records import (ALIGNMENT_FIELDS, CURVE_FIELDS, LISTINGS, RUN_FIELDS, SWEEP_ROW_FIELDS,
                            SWEEP_SUMMARY_FIELDS, filter_docs, run_view, sweep_view, view, write_csv)
from lmctui.service.user_inputs import provenance
from lmctui.store import Registry, resolve_home
from lmctui.store.runfiles import METRICS, WEIGHTS, checkpoint_path, file_sha256, read_metrics_counted

# What `show` of an alignment adds to its fields, and what its export adds (the spread of the restarts).
ALIGNMENT_DETAIL = ("objective_per_round", "candidates", "step_losses")
ALIGNMENT_EXPORT_FIELDS = ALIGNMENT_FIELDS + ("restart_spread",)
PERMUTATION = "permutation.json"  # in the aligned run's folder: the permutation applied to B, per group
START_PERMUTATION = "start_permutation.json"  # STE's: the weight matching it started from

MUST_MATCH = ("dataset", "arch", "width", "depth", "norm")  # what runs must share to be aligned


def open_registry(home: str | os.PathLike | None) -> Registry:
    """The registry at --home / $LMCTUI_HOME / ./lmc-runs, with dead runs marked interrupted."""
    registry = Registry(resolve_home(home))
    registry.mark_orphans_interrupted()
    return registry


def require_done(doc: dict) -> dict:
    """A finished run with a stored config (the model and data it needs to be loaded)."""
    if doc.get("status") != "done":
        raise UserError(f"run {doc['id']} is {doc.get('status')}, not done")
    config = doc.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict) or \
            not isinstance(config.get("data"), dict):
        raise UserError(f"run {doc['id']} has no usable config in the registry (changed by hand?)")
    return doc


def distinct(docs: list[dict]) -> list[dict]:
    """The runs, refused when one is named twice (two prefixes of one run included)."""
    ids = [d["id"] for d in docs]
    if len(set(ids)) != len(ids):
        raise UserError(f"the same run is named twice: {', '.join(ids)}")
    return docs


def resolve_runs(registry: Registry, prefixes) -> list[dict]:
    """The runs a piece of work names: each resolved, named once, finished, and compatible with the others."""
    docs = distinct([registry.resolve("runs", p) for p in prefixes])
    for doc in docs:
        require_done(doc)
    check_compatible(docs)
    return docs


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
    # heads and patch: transformers' (absent before them); depth: also for transformer runs recorded without it
    for key in ("num_classes", "input_shape", "heads", "patch") + (("depth",) if a.get("arch") in DEPTH_ARCHS else ()):
        if _as_list(model_a.get(key)) != _as_list(model_b.get(key)):
            return (f"runs {a['id']} and {b['id']} differ in {key.replace('_', ' ')}: "
                    f"{model_a.get(key)} vs {model_b.get(key)}")
    # your own models and data: the same arguments, the same source, the same content
    for what, part, key in (("arch args", "model", "arch_args"), ("model source (sha256)", "model", "source_sha256"),
                            ("data content (sha256)", "data", "sha256")):
        value_a, value_b = (a["config"].get(part) or {}).get(key), (b["config"].get(part) or {}).get(key)
        if value_a != value_b:
            return f"runs {a['id']} and {b['id']} differ in {what}: {value_a} vs {value_b}"
    return None


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def list_runs(registry: Registry, filters: list[tuple[str, str]] = (), tags: list[str] = ()) -> list[dict]:
    return list_table(registry, "runs", filters, tags)


def list_table(registry: Registry, what: str, filters: list[tuple[str, str]] = (), tags: list[str] = ()) -> list[dict]:
    """The rows of one table (runs, curves, alignments, averages, sweeps), oldest first, filtered."""
    return list_page(registry, what, filters, tags)[0]


def list_page(registry: Registry, what: str, filters: list[tuple[str, str]] = (), tags: list[str] = (),
              limit: int = 0) -> tuple[list[dict], int]:
    """The newest `limit` rows of one table (0: all), filtered, oldest first, and how many rows
    there are in all.

    Newest means added to the registry last (the table's own order; an import keeps the
    runs' `created`, which that order then need not follow); the rows shown are sorted by
    `created`. Without filters, only the page is read from the files (`Registry.newest`);
    a filter, a tag or the curves listing (each curve once) reads the whole table.
    """
    if what not in LISTINGS:
        raise FieldError("what", f"must be one of {', '.join(LISTINGS)}, got {what!r}")
    if tags and what != "runs":
        raise FieldError("tag", "applies to runs only")
    if filters or tags or what == "curves" or not limit:
        docs = registry.all(what, copy=False)  # rows are new dicts
        if what == "curves":  # one per identity: repeats of a measurement would weigh twice in any mean
            from lmctui.service.curves import distinct_curves

            docs, _ = distinct_curves(registry, docs)
        docs = filter_docs(docs, list(filters), list(tags), LISTINGS[what].fields)
        total, docs = len(docs), docs[-limit:] if limit else docs
    else:
        docs, total = registry.newest(what, limit)
    shape = {"runs": run_view, "sweeps": sweep_view}.get(what) or (lambda d: view(d, LISTINGS[what].fields))
    return [shape(d) for d in sorted(docs, key=lambda d: d.get("created") or "")], total


def show_run(registry: Registry, prefix: str) -> dict:
    """A run's record, its config, its per-epoch metrics and whether its weight files are intact."""
    return run_shown(registry, registry.resolve("runs", prefix))


def run_shown(registry: Registry, doc: dict) -> dict:
    """What `show_run` shows of a run's document (with its config)."""
    run_dir = registry.run_dir(doc["id"])
    metrics, skipped = read_metrics_counted(run_dir / METRICS)
    return {"run": run_view(doc), "config": doc.get("config"), "metrics": metrics, "metrics_skipped": skipped,
            "files": weight_files(doc, run_dir), **provenance(doc)}


def show_entry(registry: Registry, prefix: str) -> tuple[str, dict]:
    """What `show ID` shows: ("run", show_run(...) and the Slurm job that trained it),
    ("alignment", show_alignment(...)) or ("curve", curves.show_curve(...)).

    Runs are looked up first (any unique run prefix shows that run, as it always has);
    an id that no run starts with is looked up among the alignments, then the curves.
    """
    try:
        doc = registry.resolve("runs", prefix)
    except UserError:
        if not prefix.strip() or _any_starts_with(registry, "runs", prefix):
            raise  # ambiguous among the runs, or that run's own problem
        if _any_starts_with(registry, "alignments", prefix):
            return "alignment", show_alignment(registry, prefix)
        if _any_starts_with(registry, "curves", prefix):
            from lmctui.service.curves import show_curve

            return "curve", show_curve(registry, prefix)
        raise UserError(f"no run, alignment or curve with id {prefix.strip().lower()!r}")
    from lmctui.service.slurm.results import job_of_run

    shown, job = run_shown(registry, doc), job_of_run(registry, doc)
    return "run", {**shown, "job": job} if job is not None else shown


def _any_starts_with(registry: Registry, table: str, prefix: str) -> bool:
    key = prefix.strip().lower()
    return any(doc_id.startswith(key) for doc_id in registry.starting_with(table, prefix))


def show_alignment(registry: Registry, prefix: str) -> dict:
    """An alignment's record with every restart's objective and their spread, and the permutation
    it applied (from the aligned run's folder; None when that run or file is gone)."""
    doc = registry.resolve("alignments", prefix)
    record = {**alignment_row(doc), **view(doc, ALIGNMENT_DETAIL)}
    shown = {"alignment": record, "permutation": _permutation(registry, doc.get("aligned_run"))}
    if doc.get("method") == "ste":  # the weight matching it started from: the best of its restarts
        shown["start_permutation"] = _permutation(registry, doc.get("aligned_run"), START_PERMUTATION)
    return shown


def alignment_row(doc: dict) -> dict:
    """An alignment as listed and exported: its fields, plus the spread of its restarts' objectives."""
    objectives = [o for o in doc.get("restart_objectives") or [] if isinstance(o, (int, float))]
    return {**view(doc, ALIGNMENT_FIELDS), "restart_spread": max(objectives) - min(objectives) if objectives else None}


def _permutation(registry: Registry, run_id, name: str = PERMUTATION) -> dict | None:
    import json

    try:
        path = registry.run_dir(run_id) / name
        return json.loads(path.read_text(encoding="utf-8"))
    except (UserError, TypeError, OSError, ValueError):
        return None


def weight_files(doc: dict, run_dir: Path) -> dict:
    """'ok', 'missing' or 'damaged' for the final weights and each kept checkpoint (by sha256)."""
    if doc.get("status") != "done":
        return {}
    sums = doc.get("checkpoint_sha256") or {}
    files = {"weights": _file_state(run_dir / WEIGHTS, doc.get("weights_sha256"))}
    for epoch in doc.get("checkpoints") or []:
        files[f"checkpoint {epoch}"] = _file_state(checkpoint_path(run_dir, epoch), sums.get(str(epoch)))
    return files


def _file_state(path: Path, expected: str | None) -> str:
    if not path.is_file():
        return "missing"
    if expected is None:
        return "no checksum kept"
    try:
        found = file_sha256(path)
    except (UserError, OSError) as err:  # a 10 GB file, unreadable: said, never read
        return f"damaged: {err}"
    return "ok" if found == expected else "damaged: sha256 differs from the registry's"


def remove_run(registry: Registry, prefix: str) -> dict:
    doc = registry.resolve("runs", prefix)
    if doc.get("status") == "running":
        raise UserError(f"run {doc['id']} is running; cancel it first")
    folder = registry.run_dir(doc["id"])  # refuses a tampered id before anything changes
    registry.remove("runs", doc["id"])
    shutil.rmtree(folder, ignore_errors=True)
    return {**run_view(doc), "children": children_of(registry, doc["id"])}


def children_of(registry: Registry, run_id: str) -> list[str]:
    """Runs made from `run_id`: spawned from its checkpoints, aligned from it, or averaged with it."""
    def parents(doc):
        return (doc.get("parent") or "").replace("@", ",").split(",")

    return [d["id"] for d in registry.all("runs") if run_id in parents(d) or d.get("aligned_to") == run_id]


def export_runs(registry: Registry, out: str | Path, filters=(), tags=()) -> dict:
    rows = list_runs(registry, filters, tags)
    path = write_csv(out, rows, RUN_FIELDS, registry.home)
    return {"path": str(path), "rows": len(rows)}


def export_alignments(registry: Registry, out: str | Path, filters=()) -> dict:
    """One row per stored alignment: its fields, every restart's objective (';'-joined) and their spread."""
    docs = sorted(registry.all("alignments"), key=lambda d: d.get("created") or "")
    rows = [alignment_row(d) for d in filter_docs(docs, list(filters), [], ALIGNMENT_EXPORT_FIELDS)]
    path = write_csv(out, rows, ALIGNMENT_EXPORT_FIELDS, registry.home)
    return {"path": str(path), "rows": len(rows)}


def export_barriers(registry: Registry, out: str | Path) -> dict:
    """One row per measured curve (the newest of each identity): the pair, their configs, the
    method and every barrier."""
    from lmctui.service.curves import distinct_curves

    docs, _ = distinct_curves(registry)
    configs = {run_id: registry.run_config(run_id) for d in docs for run_id in (d.get("run_a"), d.get("run_b"))}
    rows = [{**view(d, CURVE_FIELDS), "config_a": configs.get(d["run_a"]), "config_b": configs.get(d["run_b"])}
            for d in docs]
    path = write_csv(out, rows, CURVE_FIELDS + ("config_a", "config_b"), registry.home)
    return {"path": str(path), "rows": len(rows)}


def export_sweep(registry: Registry, prefix: str, out: str | Path, summary: bool = False) -> dict:
    """A stored sweep's rows (one per value, method and pair), or its summary, as CSV."""
    doc = registry.resolve("sweeps", prefix)
    rows = doc.get("summary" if summary else "rows") or []
    path = write_csv(out, rows, SWEEP_SUMMARY_FIELDS if summary else SWEEP_ROW_FIELDS, registry.home)
    return {"path": str(path), "rows": len(rows), "sweep": doc["id"]}
