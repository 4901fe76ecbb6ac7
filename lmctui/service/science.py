"""Use cases of the science core: align, interpolate and average registered runs.

Each works on `LoadedRuns` (weights and data in memory once); the functions taking a
request and run ids are thin wrappers that load and call them.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from lmctui.configs import InterpolationOptions
from lmctui.core.averaging import average as average_states
from lmctui.core.averaging import ensemble, load
from lmctui.core.evaluation import evaluate
from lmctui.core.interpolation import CALIBRATION_SAMPLES, interpolate
from lmctui.core.matching import activation_matching, weight_matching
from lmctui.core.permutation import apply_permutation, spec_for
from lmctui.records import ALIGNMENT_FIELDS, AVERAGE_FIELDS, CURVE_FIELDS, CURVE_SERIES, RunRecord, view
from lmctui.service.loaded import LoadedRun, LoadedRuns
from lmctui.service.requests import AlignRequest, AverageRequest, InterpRequest
from lmctui.store import Registry
from lmctui.store.registry import HOST, now
from lmctui.store.runfiles import CONFIG, WEIGHTS, save_weights, write_json

PointProgress = Callable[[str, int, int], None]  # (method, points done, points)


# -- align -------------------------------------------------------------------------------

def align(registry: Registry, request: AlignRequest) -> dict:
    """Permute B's hidden units to match A; register the permuted B as a new run."""
    request.validate()
    loaded = LoadedRuns.load(registry, [request.run_a, request.run_b], request.device)
    record, _ = align_loaded(loaded, 0, 1, request.method, request.seed)
    return record


def align_loaded(loaded: LoadedRuns, a: int, b: int, method: str, seed: int = 0) -> tuple[dict, dict]:
    """Run b aligned to run a: (the alignment's record, the permuted state of b).

    A stored alignment with the same runs, method and seed is reused (its aligned run's
    weights loaded); otherwise the matching runs and its result is registered.
    """
    run_a, run_b = loaded[a], loaded[b]
    key = (run_a.id, run_b.id, method, seed)
    if key in loaded.aligned:
        return loaded.aligned[key]
    existing = _find_alignment(loaded.registry, *key)
    if existing is not None:
        state = LoadedRun.load(loaded.registry, loaded.registry.get("runs", existing["aligned_run"]),
                               loaded.device).state
        loaded.aligned[key] = ({**view(existing, ALIGNMENT_FIELDS), "reused": True}, state)
        return loaded.aligned[key]
    spec = spec_for(run_a.model)
    if method == "weight":
        result = weight_matching(spec, run_a.state, run_b.state, seed=seed)
    else:
        x = loaded.data.x_train[:CALIBRATION_SAMPLES]
        result = activation_matching(spec, load(run_a.model, run_a.state, loaded.device),
                                     load(run_b.model, run_b.state, loaded.device), x)
    permuted = apply_permutation(spec, result.perms, run_b.state)
    aligned_run = register_derived(loaded, run_b.doc, permuted, "aligned", parent=run_b.id,
                                   aligned_to=run_a.id, align_method=method)
    doc = loaded.registry.insert("alignments", {
        "run_a": run_a.id, "run_b": run_b.id, "method": method, "seed": seed, "aligned_run": aligned_run,
        "iterations": result.iterations, "objective": result.objective[-1] if result.objective else None,
        "objective_per_round": result.objective, "solves": result.solves, "seconds": round(result.seconds, 4),
    })
    write_json(loaded.registry.run_dir(aligned_run) / "permutation.json",
               {p: v.tolist() for p, v in result.perms.items()})
    loaded.aligned[key] = ({**view(doc, ALIGNMENT_FIELDS), "reused": False}, permuted)
    return loaded.aligned[key]


def _find_alignment(registry: Registry, run_a: str, run_b: str, method: str, seed: int) -> dict | None:
    for doc in registry.all("alignments"):
        if (doc["run_a"], doc["run_b"], doc["method"], doc.get("seed")) == (run_a, run_b, method, seed):
            aligned = registry.get("runs", doc["aligned_run"])
            if aligned is not None and aligned.get("status") == "done":
                return doc
    return None


def register_derived(loaded: LoadedRuns, template: dict, state: dict, kind: str, parent: str, **extra) -> str:
    """Register a network made from others (aligned, averaged) as a finished run; return its id."""
    registry, data = loaded.registry, loaded.data
    model = load(loaded.model, state, loaded.device)
    train_loss, train_acc = evaluate(model, data.x_train, data.y_train)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    record = RunRecord.from_doc(template).derived(kind, parent, **extra)
    record.started, record.host, record.pid = now(), HOST, os.getpid()  # this process registers it
    doc = registry.insert("runs", record.to_doc())
    run_dir = registry.run_dir(doc["id"])
    write_json(run_dir / CONFIG, {**template["config"], "derived": {"kind": kind, "parent": parent, **extra}})
    sha = save_weights(run_dir / WEIGHTS, {k: v.detach().cpu() for k, v in state.items()})
    registry.update("runs", doc["id"], {
        "status": "done", "finished": now(), "weights_sha256": sha, "error": None, "seconds": 0.0,
        "train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc})
    return doc["id"]


# -- interpolate -------------------------------------------------------------------------

def interp(registry: Registry, request: InterpRequest, on_progress: PointProgress | None = None) -> list[dict]:
    """Curves between A and B for each method (aligning as needed); each stored in `curves`."""
    request.validate()
    loaded = LoadedRuns.load(registry, [request.run_a, request.run_b], request.device)
    return interp_loaded(loaded, 0, 1, request.methods, request.options, request.seed, on_progress)


def interp_loaded(loaded: LoadedRuns, a: int, b: int, methods, options: InterpolationOptions,
                  seed: int = 0, on_progress: PointProgress | None = None) -> list[dict]:
    """The curves from run a to run b, one per method, stored; returns their records."""
    run_a, run_b = loaded[a], loaded[b]
    curves = []
    for method in methods:
        alignment, partner = None, run_b.state
        if method != "naive":
            alignment, partner = align_loaded(loaded, a, b, method, seed)
        report = (lambda done, total, m=method: on_progress(m, done, total)) if on_progress else None
        curve = interpolate(run_a.model, run_a.state, partner, loaded.data, options, on_point=report)
        doc = loaded.registry.insert("curves", {
            **_pair_context(run_a.doc, run_b.doc), "method": method, "alignment": alignment and alignment["id"],
            "points": options.points, "repair": options.repair, "reset_bn": options.reset_bn, **curve.to_dict()})
        curves.append(curve_record(doc))
    return curves


def _pair_context(doc_a: dict, doc_b: dict) -> dict:
    shared = {k: doc_a.get(k) for k in ("dataset", "arch", "width", "depth", "norm", "optimizer", "lr",
                                        "batch_size", "epochs")}
    return {**shared, "run_a": doc_a["id"], "run_b": doc_b["id"], "seed_a": doc_a.get("seed"),
            "seed_b": doc_b.get("seed")}


def curve_record(doc: dict) -> dict:
    return {**view(doc, CURVE_FIELDS), **view(doc, CURVE_SERIES)}


# -- average -----------------------------------------------------------------------------

def average(registry: Registry, request: AverageRequest, register: bool = True) -> dict:
    """Average K >= 2 runs; report it next to the endpoints and the ensemble.

    With `register`, the averaged network is stored as a run of kind "averaged".
    """
    request.validate()
    loaded = LoadedRuns.load(registry, list(request.runs), request.device)
    reference = loaded.index_of(request.reference) if request.reference is not None else 0
    return average_loaded(loaded, request.method, reference, request.seed, register)


def average_loaded(loaded: LoadedRuns, method: str, reference: int = 0, seed: int = 0,
                   register: bool = True) -> dict:
    """Average every loaded run by `method`, aligning to run `reference`; store the result."""
    start = time.perf_counter()
    runs, data = loaded.runs, loaded.data
    states = [r.state for r in runs]
    result = average_states(loaded.model, states, method, data, reference=reference, seed=seed)
    ens_loss, ens_acc = ensemble(loaded.model, states, data.x_test, data.y_test)
    endpoints = [{"id": r.id, "test_acc": r.doc.get("test_acc"), "test_loss": r.doc.get("test_loss")} for r in runs]
    averaged_run = None
    if register:
        averaged_run = register_derived(loaded, runs[reference].doc, result.state, "averaged",
                                        parent=",".join(r.id for r in runs), average_method=method)
    doc = loaded.registry.insert("averages", {
        "method": method, "runs": [r.id for r in runs], "reference": runs[reference].id, "rounds": result.rounds,
        "averaged_run": averaged_run, "train_loss": result.train_loss, "train_acc": result.train_acc,
        "test_loss": result.test_loss, "test_acc": result.test_acc, "endpoints": endpoints,
        "ensemble": {"test_loss": ens_loss, "test_acc": ens_acc}, "seconds": round(time.perf_counter() - start, 3),
        "dataset": runs[0].doc.get("dataset"), "arch": loaded.model.arch, "width": loaded.model.width,
    })
    return view(doc, AVERAGE_FIELDS)

