"""What can be refused before any work starts, without torch: a request's fields and the runs it names.

Every placement calls `check_submittable` before it runs or queues anything, so the CLI, the
app and a queued job refuse the same things with the same words. The runs a piece of work
names are resolved and checked by `catalog.resolve_runs`, the one place that rule lives
(`LoadedRuns.load` uses it too).
"""

from __future__ import annotations

from lmctui.choices import DEPTH_ARCHS, TRANSFORMER_ARCHS
from lmctui.errors import FieldError
from lmctui.parsing import parse_run_at_epoch
from lmctui.service.catalog import require_done, resolve_runs
from lmctui.service.requests import TrainRequest
from lmctui.store import Registry


def check_submittable(registry: Registry, request) -> None:
    """Everything about `request` that can be checked without torch: fields, and the runs it names."""
    request.validate()
    if isinstance(request, TrainRequest) and request.init_from:
        spawn_source(registry, request)
    if request.named_runs():
        runs = resolve_runs(registry, request.named_runs())
        options = getattr(request, "options", None)
        if options is not None and runs[0].get("arch") in TRANSFORMER_ARCHS:
            _refuse_batchnorm_options(options, runs[0]["arch"])


def _refuse_batchnorm_options(options, arch: str) -> None:
    """REPAIR and a BatchNorm reset asked for by name do not apply to a LayerNorm net."""
    if options.repair:
        raise FieldError("repair", f"applies to MLPs and CNNs; {arch} normalizes with LayerNorm, "
                                   "whose scale REPAIR cannot reach")
    if options.reset_bn is True:
        raise FieldError("reset_bn", f"re-estimates BatchNorm statistics; {arch} has LayerNorm, no BatchNorm "
                                     "(leave the option out)")


def spawn_source(registry: Registry, request: TrainRequest) -> tuple[dict, int | None]:
    """The run (and epoch) `init_from` names: finished, with this model and data set, and (for an
    epoch) with that checkpoint kept. Returns (its record, the epoch or None)."""
    prefix, epoch = parse_run_at_epoch(request.init_from)
    parent = require_done(registry.resolve("runs", prefix))
    model = parent["config"]["model"]
    counts_depth = request.arch in DEPTH_ARCHS
    ours = {"dataset": request.data.name, "arch": request.arch, "width": request.width, "norm": request.norm,
            "depth": request.depth if counts_depth else model.get("depth"),
            "heads": request.heads if request.arch in TRANSFORMER_ARCHS else model.get("heads")}
    theirs = {"dataset": parent["config"]["data"]["name"], **{k: model.get(k) for k in ("arch", "width", "norm",
                                                                                            "depth", "heads")}}
    if ours != theirs:
        raise FieldError("init_from", f"{request.init_from}: run {parent['id']} has a different model or data set")
    kept = parent.get("checkpoints") or []
    if epoch is not None and epoch not in kept:
        raise FieldError("init_from", f"{request.init_from}: run {parent['id']} kept no checkpoint at epoch "
                                      f"{epoch} (kept: {kept or 'none'}; train with save_epochs)")
    return parent, epoch
