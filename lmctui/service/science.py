"""Use cases of the science core: align, interpolate and average registered runs."""

from __future__ import annotations

import time

import torch

from lmctui.choices import ALIGN_METHODS, AVERAGE_METHODS, CURVE_METHODS
from lmctui.core.averaging import average as average_states
from lmctui.core.averaging import ensemble, load
from lmctui.core.data import DataConfig, Dataset, load_dataset
from lmctui.core.devices import resolve_device
from lmctui.core.evaluation import evaluate
from lmctui.core.interpolation import InterpolationOptions, interpolate
from lmctui.core.matching import activation_matching, weight_matching
from lmctui.core.models import ModelConfig
from lmctui.core.permutation import apply_permutation, spec_for
from lmctui.errors import UserError
from lmctui.records import ALIGNMENT_FIELDS, AVERAGE_FIELDS, CURVE_FIELDS, CURVE_SERIES, view
from lmctui.service.catalog import require_done
from lmctui.store import Registry
from lmctui.store.registry import HOST, now
from lmctui.store.runfiles import CONFIG, WEIGHTS, load_weights, save_weights, write_json

MUST_MATCH = ("dataset", "arch", "width", "depth", "norm")


class LoadedRun:
    """A finished run's record, model config and weights (sha256-checked)."""

    def __init__(self, registry: Registry, doc: dict, device: torch.device):
        self.doc = require_done(doc)
        self.id = doc["id"]
        self.model = ModelConfig.from_dict(doc["config"]["model"])
        path = registry.run_dir(self.id) / WEIGHTS
        self.state = {k: v.to(device) for k, v in load_weights(path, doc.get("weights_sha256")).items()}


def load_runs(registry: Registry, prefixes: list[str], device: torch.device) -> list[LoadedRun]:
    docs = [registry.resolve("runs", p) for p in prefixes]
    ids = [d["id"] for d in docs]
    if len(set(ids)) != len(ids):
        raise UserError(f"the same run is named twice: {', '.join(ids)}")
    for doc in docs:
        require_done(doc)
    check_compatible(docs)
    return [LoadedRun(registry, d, device) for d in docs]


def check_compatible(docs: list[dict]) -> None:
    """Refuse runs that cannot share a permutation spec, saying what differs."""
    first = docs[0]
    for other in docs[1:]:
        for key in MUST_MATCH:
            if first.get(key) != other.get(key):
                raise UserError(f"runs {first['id']} and {other['id']} differ in {key}: "
                                f"{first.get(key)} vs {other.get(key)}")
        model_a, model_b = first["config"]["model"], other["config"]["model"]
        for key in ("num_classes", "input_shape"):
            if list(_as_list(model_a[key])) != list(_as_list(model_b[key])):
                raise UserError(f"runs {first['id']} and {other['id']} differ in {key.replace('_', ' ')}: "
                                f"{model_a[key]} vs {model_b[key]}")


def _as_list(value):
    return value if isinstance(value, (list, tuple)) else [value]


def dataset_of(doc: dict, device: torch.device) -> Dataset:
    data = doc["config"]["data"]
    config = DataConfig(data["name"], data.get("n_samples", 1000), data.get("noise"), data.get("data_dir"))
    return load_dataset(config).to(device)


# -- align -------------------------------------------------------------------------------

def align(registry: Registry, run_a: str, run_b: str, method: str = "weight", seed: int = 0,
          device: str = "auto") -> dict:
    """Permute B's hidden units to match A; register the permuted B as a new run."""
    if method not in ALIGN_METHODS:
        raise UserError(f"--method must be one of {', '.join(ALIGN_METHODS)}, got {method!r}")
    dev = resolve_device(device)
    a, b = load_runs(registry, [run_a, run_b], dev)
    return _align_loaded(registry, a, b, method, seed)


def _align_loaded(registry: Registry, a: LoadedRun, b: LoadedRun, method: str, seed: int) -> dict:
    existing = _find_alignment(registry, a.id, b.id, method, seed)
    if existing is not None:
        return {**view(existing, ALIGNMENT_FIELDS), "reused": True}
    spec = spec_for(a.model)
    data = dataset_of(a.doc, a.state[next(iter(a.state))].device)
    if method == "weight":
        result = weight_matching(spec, a.state, b.state, seed=seed)
    else:
        result = activation_matching(spec, load(a.model, a.state, data.x_train.device),
                                     load(b.model, b.state, data.x_train.device), data.x_train[:10_000])
    permuted = apply_permutation(spec, result.perms, b.state)
    aligned_run = _register_derived(registry, b.doc, permuted, data, kind="aligned",
                                    extra={"parent": b.id, "aligned_to": a.id, "align_method": method})
    doc = registry.insert("alignments", {
        "run_a": a.id, "run_b": b.id, "method": method, "seed": seed, "aligned_run": aligned_run,
        "iterations": result.iterations, "objective": result.objective[-1] if result.objective else None,
        "objective_per_round": result.objective, "solves": result.solves, "seconds": round(result.seconds, 4),
    })
    write_json(registry.run_dir(aligned_run) / "permutation.json",
               {p: v.tolist() for p, v in result.perms.items()})
    return {**view(doc, ALIGNMENT_FIELDS), "reused": False}


def _find_alignment(registry, run_a, run_b, method, seed):
    for doc in registry.all("alignments"):
        if (doc["run_a"], doc["run_b"], doc["method"], doc.get("seed")) == (run_a, run_b, method, seed):
            aligned = registry.get("runs", doc["aligned_run"])
            if aligned is not None and aligned.get("status") == "done":
                return doc
    return None


def _register_derived(registry: Registry, template: dict, state: dict, data: Dataset, kind: str,
                      extra: dict) -> str:
    """Register a network made from others (aligned, averaged) as a finished run."""
    model = load(ModelConfig.from_dict(template["config"]["model"]), state, data.x_train.device)
    train_loss, train_acc = evaluate(model, data.x_train, data.y_train)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    keep = {k: v for k, v in template.items() if k not in ("id", "created", "schema", "weights_sha256")}
    doc = registry.insert("runs", {**keep, **extra, "kind": kind, "status": "running", "started": now(),
                                   "host": HOST, "tags": list(template.get("tags") or []), "checkpoints": []})
    run_dir = registry.run_dir(doc["id"])
    write_json(run_dir / CONFIG, {**template["config"], "derived": {"kind": kind, **extra}})
    sha = save_weights(run_dir / WEIGHTS, {k: v.detach().cpu() for k, v in state.items()})
    registry.update("runs", doc["id"], {
        "status": "done", "finished": now(), "weights_sha256": sha, "error": None, "seconds": 0.0,
        "train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc})
    return doc["id"]


# -- interpolate -------------------------------------------------------------------------

def interp(registry: Registry, run_a: str, run_b: str, methods: list[str] = ("naive", "weight"),
           options: InterpolationOptions = InterpolationOptions(), seed: int = 0, device: str = "auto",
           on_progress=None) -> list[dict]:
    """Curves between A and B for each method (aligning as needed); each stored in `curves`."""
    bad = [m for m in methods if m not in CURVE_METHODS]
    if bad or not methods:
        raise UserError(f"--methods takes a comma list of {', '.join(CURVE_METHODS)}, got {','.join(methods)}")
    if options.points < 2:
        raise UserError(f"--points must be at least 2, got {options.points}")
    dev = resolve_device(device)
    a, b = load_runs(registry, [run_a, run_b], dev)
    data = dataset_of(a.doc, dev)
    curves = []
    for method in methods:
        alignment, partner = None, b.state
        if method != "naive":
            alignment = _align_loaded(registry, a, b, method, seed)
            partner = LoadedRun(registry, registry.get("runs", alignment["aligned_run"]), dev).state
        report = (lambda done, total, m=method: on_progress(m, done, total)) if on_progress else None
        curve = interpolate(a.model, a.state, partner, data, options, on_point=report)
        doc = registry.insert("curves", {
            **_pair_context(a.doc, b.doc), "method": method, "alignment": alignment and alignment["id"],
            "points": options.points, "repair": options.repair, "reset_bn": options.reset_bn, **curve.to_dict()})
        curves.append(curve_record(doc))
    return curves


def _pair_context(doc_a: dict, doc_b: dict) -> dict:
    shared = {k: doc_a.get(k) for k in ("dataset", "arch", "width", "depth", "norm", "optimizer", "lr",
                                        "batch_size", "epochs")}
    return {**shared, "run_a": doc_a["id"], "run_b": doc_b["id"], "seed_a": doc_a.get("seed"),
            "seed_b": doc_b.get("seed"), "config_a": doc_a.get("config"), "config_b": doc_b.get("config")}


def curve_record(doc: dict) -> dict:
    return {**view(doc, CURVE_FIELDS), **view(doc, CURVE_SERIES)}


# -- average -----------------------------------------------------------------------------

def average(registry: Registry, prefixes: list[str], method: str = "weight", reference: str | None = None,
            seed: int = 0, device: str = "auto", register: bool = True) -> dict:
    """Average K >= 2 runs by `method`; report it next to the endpoints and the ensemble.

    With `register`, the averaged network is stored as a run of kind "averaged".
    """
    if method not in AVERAGE_METHODS:
        raise UserError(f"--method must be one of {', '.join(AVERAGE_METHODS)}, got {method!r}")
    if len(prefixes) < 2:
        raise UserError(f"averaging needs at least 2 runs, got {len(prefixes)}")
    start = time.perf_counter()
    dev = resolve_device(device)
    runs = load_runs(registry, list(prefixes), dev)
    ref_index = 0
    if reference is not None:
        ref_id = registry.resolve("runs", reference)["id"]
        ids = [r.id for r in runs]
        if ref_id not in ids:
            raise UserError(f"--reference {ref_id} is not one of the runs being averaged")
        ref_index = ids.index(ref_id)
    data = dataset_of(runs[0].doc, dev)
    states = [r.state for r in runs]
    result = average_states(runs[0].model, states, method, data, reference=ref_index, seed=seed)
    ens_loss, ens_acc = ensemble(runs[0].model, states, data.x_test, data.y_test)
    endpoints = [{"id": r.id, "test_acc": r.doc.get("test_acc"), "test_loss": r.doc.get("test_loss")} for r in runs]
    averaged_run = None
    if register:
        averaged_run = _register_derived(registry, runs[ref_index].doc, result.state, data, kind="averaged",
                                         extra={"parent": ",".join(r.id for r in runs), "average_method": method,
                                                "seed": None, "init_seed": None, "data_seed": None})
    doc = registry.insert("averages", {
        "method": method, "runs": [r.id for r in runs], "reference": runs[ref_index].id, "rounds": result.rounds,
        "averaged_run": averaged_run, "train_loss": result.train_loss, "train_acc": result.train_acc,
        "test_loss": result.test_loss, "test_acc": result.test_acc, "endpoints": endpoints,
        "ensemble": {"test_loss": ens_loss, "test_acc": ens_acc}, "seconds": round(time.perf_counter() - start, 3),
        "dataset": runs[0].doc.get("dataset"), "arch": runs[0].model.arch, "width": runs[0].model.width,
    })
    return view(doc, AVERAGE_FIELDS)
