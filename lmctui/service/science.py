"""Use cases of the science core: align, interpolate and average registered runs.

Each works on `LoadedRuns` (weights and data in memory once); the functions taking a
request and run ids are thin wrappers that load and call them.
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable

from lmctui.configs import InterpolationOptions
from lmctui.core.averaging import average as average_states
from lmctui.core.averaging import ensemble, load
from lmctui.core.calibration import has_batchnorm, recalibrate
from lmctui.core.consistency import universe_alignment
from lmctui.core.evaluation import evaluate
from lmctui.core.interpolation import CALIBRATION_SAMPLES, interpolate
from lmctui.core.refinement import refine_curve
from lmctui.core.permutation import apply_permutation
from lmctui.core.specs import spec_for
from lmctui.records import ALIGNMENT_FIELDS, AVERAGE_FIELDS, CURVE_FIELDS, CURVE_SERIES, RunRecord, view
from lmctui.identities import interp_identity, matching_settings
from lmctui.service.catalog import PERMUTATION, START_PERMUTATION
from lmctui.service.curves import remove_repeats, stored_curve
from lmctui.service.loaded import LoadedRun, LoadedRuns
from lmctui.service.methods import METHODS, methods_using
from lmctui.service.requests import AlignRequest, AverageRequest, InterpRequest, Matching
from lmctui.service.stopping import current
from lmctui.store import Registry
from lmctui.store.registry import HOST, now
from lmctui.store.runfiles import CONFIG, WEIGHTS, save_weights, write_json

# Permutations a matching found -> the file in the aligned run's folder that keeps each (STE's start too).
PERMUTATION_FILES = {"perms": PERMUTATION, "start_perms": START_PERMUTATION}
PointProgress = Callable[[str, int, int], None]  # (method, points done, points); STE steps report the same way
StepProgress = Callable[[int, int, float], None]  # (step, steps, loss): STE matching


# -- align -------------------------------------------------------------------------------

def align(registry: Registry, request: AlignRequest, on_step: StepProgress | None = None) -> dict:
    """Permute B's hidden units to match A; register the permuted B as a new run."""
    request.validate()
    loaded = LoadedRuns.load(registry, [request.run_a, request.run_b], request.device)
    record, _ = align_loaded(loaded, 0, 1, request.method, request.seed, request.matching, on_step)
    return record


def align_loaded(loaded: LoadedRuns, a: int, b: int, method: str, seed: int = 0,
                 matching: Matching = Matching(), on_step: StepProgress | None = None) -> tuple[dict, dict]:
    """Run b aligned to run a: (the alignment's record, the permuted state of b).

    A stored alignment made the same way (runs, method, seed, restarts, STE options) is
    reused (its aligned run's weights loaded); otherwise the matching runs and its result
    is registered.
    """
    run_a, run_b = loaded[a], loaded[b]
    how = _how(method, seed, matching, run_a.model.arch)
    key = (run_a.id, run_b.id, json.dumps(how, sort_keys=True))
    if key in loaded.aligned:
        return loaded.aligned[key]
    existing = _find_alignment(loaded.registry, run_a.id, run_b.id, how)
    if existing is not None:
        state = LoadedRun.load(loaded.registry, loaded.registry.get("runs", existing["aligned_run"]),
                               loaded.device).state
        loaded.aligned[key] = ({**view(existing, ALIGNMENT_FIELDS), "reused": True}, state)
        return loaded.aligned[key]
    spec = spec_for(run_a.model)
    start = time.perf_counter()
    found = _match(loaded, run_a, run_b, spec, how, on_step)
    permuted = apply_permutation(spec, found["perms"], run_b.state)
    aligned_run = register_derived(loaded, run_b.doc, permuted, "aligned", parent=run_b.id,
                                   aligned_to=run_a.id, align_method=method)
    doc = loaded.registry.insert("alignments", {
        "run_a": run_a.id, "run_b": run_b.id, "aligned_run": aligned_run, **how,
        **{k: v for k, v in found.items() if k not in PERMUTATION_FILES},
        "seconds": round(time.perf_counter() - start, 4)})
    for key, name in PERMUTATION_FILES.items():
        if key in found:
            write_json(loaded.registry.run_dir(aligned_run) / name, {p: v.tolist() for p, v in found[key].items()})
    loaded.aligned[key] = ({**view(doc, ALIGNMENT_FIELDS), "reused": False}, permuted)
    return loaded.aligned[key]


def _how(method: str, seed: int, matching: Matching, arch: str) -> dict:
    """What makes two alignments of the same pair the same: the method and its settings."""
    return {"method": method, "seed": seed, **METHODS[method].settings(seed, matching, arch)}


def _match(loaded: LoadedRuns, run_a, run_b, spec, how: dict, on_step) -> dict:
    """Run the matching `how` names; its permutations and what the record keeps of it."""
    return METHODS[how["method"]].match(loaded, run_a, run_b, spec, how, on_step)


def _find_alignment(registry: Registry, run_a: str, run_b: str, how: dict) -> dict | None:
    for doc in registry.all("alignments"):
        same = all(doc.get(k, 1 if k == "restarts" else None) == v for k, v in how.items())
        if (doc["run_a"], doc["run_b"]) == (run_a, run_b) and same:
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

def interp(registry: Registry, request: InterpRequest, on_progress: PointProgress | None = None,
           on_step: StepProgress | None = None) -> list[dict]:
    """Curves between A and B for each method (aligning as needed); each stored in `curves`.

    `on_progress(method, done, total)` hears the points of each curve and, unless `on_step`
    is given, STE's steps too; `on_step(step, steps, loss)` hears STE's steps apart.
    """
    request.validate()
    loaded = LoadedRuns.load(registry, [request.run_a, request.run_b], request.device)
    return interp_loaded(loaded, 0, 1, request.methods, request.options, request.seed, on_progress,
                         request.matching, on_step, request.recompute)


def interp_loaded(loaded: LoadedRuns, a: int, b: int, methods, options: InterpolationOptions,
                  seed: int = 0, on_progress: PointProgress | None = None,
                  matching: Matching = Matching(), on_step: StepProgress | None = None,
                  recompute: bool = False) -> list[dict]:
    """The curves from run a to run b, one per method, stored; returns their records.

    A curve already stored with the same identity (`lmctui.identities`) is returned as it
    is (`reused`), unless `recompute` (or it lacks the refined barriers asked for); a curve
    measured here replaces every stored one of its identity. With `options.refine`, the test
    barriers are refined between grid points around the grid's maximum, and the alpha of
    the maximum is kept.
    """
    run_a, run_b = loaded[a], loaded[b]
    split = f"{len(loaded.data.y_train)}/{len(loaded.data.y_test)}"
    curves = []
    for method in methods:
        how = _how(method, seed, matching, run_a.model.arch) if method in METHODS else {}
        identity = interp_identity(run_a.id, run_b.id, method, options.points, run_a.doc.get("dataset"),
                                   options.resets_bn, options.repair, matching_settings(method, how), split)
        stored = None if recompute else stored_curve(loaded.registry, identity)
        if stored is not None and (stored.get("loss_barrier_test_refined") is not None or not options.refine):
            curves.append({**curve_record(stored), "reused": True})
            continue
        alignment, partner = None, run_b.state
        if method != "naive":
            steps = on_step or ((lambda step, total, loss, m=method: on_progress(m, step, total)) if on_progress
                                else None)
            alignment, partner = align_loaded(loaded, a, b, method, seed, matching, steps)
        report = (lambda done, total, m=method: on_progress(m, done, total)) if on_progress else None
        curve = interpolate(run_a.model, run_a.state, partner, loaded.data, options, on_point=report,
                            should_stop=current())
        refined = _refined(loaded, run_a, partner, curve, options) if options.refine else {}
        doc = loaded.registry.insert("curves", {
            **_pair_context(run_a.doc, run_b.doc), "method": method, "alignment": alignment and alignment["id"],
            "points": options.points, "repair": options.repair, "reset_bn": options.resets_bn, "split": split,
            **curve.to_dict(), **refined})
        remove_repeats(loaded.registry, doc["id"], identity)
        curves.append({**curve_record(doc), "reused": False})
    return curves


def _refined(loaded: LoadedRuns, run_a, partner: dict, curve, options: InterpolationOptions) -> dict:
    """The test loss and error barriers refined around the grid's maximum, with where they lie."""
    out = {}
    for metric in ("loss", "error"):
        found = refine_curve(run_a.model, run_a.state, partner, loaded.data, curve, options, "test", metric)
        out[f"{metric}_barrier_test_refined"] = found.barrier
        out[f"{metric}_barrier_test_alpha"] = found.alpha
    return out


def _pair_context(doc_a: dict, doc_b: dict) -> dict:
    shared = {k: doc_a.get(k) for k in ("dataset", "arch", "width", "depth", "norm", "optimizer", "lr",
                                        "batch_size", "epochs")}
    return {**shared, "run_a": doc_a["id"], "run_b": doc_b["id"], "seed_a": doc_a.get("seed"),
            "seed_b": doc_b.get("seed")}


def curve_record(doc: dict) -> dict:
    return {**view(doc, CURVE_FIELDS), **view(doc, CURVE_SERIES)}


# -- average -----------------------------------------------------------------------------

def average(registry: Registry, request: AverageRequest, register: bool = True,
            on_step: StepProgress | None = None) -> dict:
    """Average K >= 2 runs; report it next to the endpoints and the ensemble.

    With `register`, the averaged network is stored as a run of kind "averaged".
    `on_step(step, steps, loss)` hears STE's steps (each run's matching in turn).
    """
    request.validate()
    loaded = LoadedRuns.load(registry, list(request.runs), request.device)
    reference = loaded.index_of(request.reference) if request.reference is not None else 0
    return average_loaded(loaded, request.method, reference, request.seed, register, request.matching, on_step,
                          request.repair)


def average_loaded(loaded: LoadedRuns, method: str, reference: int = 0, seed: int = 0,
                   register: bool = True, matching: Matching = Matching(),
                   on_step: StepProgress | None = None, repair: bool = False) -> dict:
    """Average every loaded run by `method`, aligning to run `reference`; store the result.

    `ste` aligns each run to the reference by STE, `universe` all of them into one
    shared frame (cycle-consistent); both then average naively. A BatchNorm network's
    average is evaluated after its statistics are re-estimated, so its endpoints are
    reported both as trained and re-estimated the same way (`*_reset`): like with like.
    With `repair`, REPAIR is written into the average (each unit's statistics set to the
    mean of the aligned runs').
    """
    start = time.perf_counter()
    runs, data = loaded.runs, loaded.data
    states = [r.state for r in runs]
    restarts = matching.restarts_for(loaded.model.arch)
    aligned_here = method in METHODS and not METHODS[method].core_average
    if aligned_here:
        states = [s if i == reference else align_loaded(loaded, reference, i, method, seed, matching, on_step)[1]
                  for i, s in enumerate(states)]
    elif method == "universe":
        spec = spec_for(loaded.model)
        states = universe_alignment(spec, states, seed=seed, restarts=restarts,
                                    should_stop=current()).aligned(spec, states)
    core_method = "naive" if aligned_here or method == "universe" else method
    result = average_states(loaded.model, states, core_method, data, reference=reference, seed=seed,
                            restarts=restarts, should_stop=current(), repair=repair)
    ens_loss, ens_acc = ensemble(loaded.model, [r.state for r in runs], data.x_test, data.y_test)
    averaged_run = None
    if register:
        averaged_run = register_derived(loaded, runs[reference].doc, result.state, "averaged",
                                        parent=",".join(r.id for r in runs), average_method=method)
    doc = loaded.registry.insert("averages", {
        "method": method, "runs": [r.id for r in runs], "reference": runs[reference].id, "rounds": result.rounds,
        "seed": seed, "repair": repair,
        "restarts": restarts if method in methods_using("restarts") else None,
        "averaged_run": averaged_run, "train_loss": result.train_loss, "train_acc": result.train_acc,
        "test_loss": result.test_loss, "test_acc": result.test_acc, "endpoints": _endpoints(loaded),
        "ensemble": {"test_loss": ens_loss, "test_acc": ens_acc}, "seconds": round(time.perf_counter() - start, 3),
        "dataset": runs[0].doc.get("dataset"), "arch": loaded.model.arch, "width": loaded.model.width,
    })
    return view(doc, AVERAGE_FIELDS)


def _endpoints(loaded: LoadedRuns) -> list[dict]:
    """Each run's test figures as recorded and, for BatchNorm nets, with statistics re-estimated
    on the training data as the average's are."""
    out = []
    for run in loaded.runs:
        entry = {"id": run.id, "test_acc": run.doc.get("test_acc"), "test_loss": run.doc.get("test_loss")}
        model = load(run.model, run.state, loaded.device)
        if has_batchnorm(model):
            recalibrate(model, loaded.data.x_train[:CALIBRATION_SAMPLES])
            entry["test_loss_reset"], entry["test_acc_reset"] = evaluate(model, loaded.data.x_test,
                                                                         loaded.data.y_test)
        out.append(entry)
    return out
