"""Figures of what the registry holds: the data gathered here, drawn by `lmctui.figures`.

The CLI's `plot` and the app's figure key both come here, so a figure of one thing is the
same file from either. No torch here; matplotlib is imported only to draw.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from lmctui.errors import FieldError, UserError
from lmctui.export_files import export_target
from lmctui.figures.style import FORMATS, STYLES
from lmctui.records import CURVE_FIELDS, CURVE_SERIES, view
from lmctui.store import Registry
from lmctui.store.runfiles import METRICS, read_metrics

FIGURE_KINDS = ("curves", "sweep", "basins", "training")
APP_FORMAT = ".pdf"  # what the app's figure key writes: vector, ready for a paper


def check_figure(out: str | Path, style: str, home: Path | None = None) -> Path:
    """The output file and style, refused before anything is read or drawn (inside the home,
    only under HOME/exports/, as every export)."""
    path = Path(out).expanduser()
    if path.suffix.lower() not in FORMATS:
        raise FieldError("out", f"must end in {', '.join(FORMATS)} (the format), got {path.name!r}")
    path = export_target(path, home)
    if style not in STYLES:
        raise FieldError("style", f"must be one of {', '.join(STYLES)}, got {style!r}")
    if importlib.util.find_spec("matplotlib") is None:
        raise UserError("figures need matplotlib: pip install 'lmctui[plot]'")
    return path


def curves_of_runs(registry: Registry, run_ids: list[str], methods: tuple[str, ...] = ()) -> list[dict]:
    """The newest curve of each identity between any two of the runs (or, for one run, from it),
    of `methods` (all when empty)."""
    from lmctui.service.curves import distinct_curves

    ids = {registry.resolve("runs", r)["id"] for r in run_ids}
    inside = [d for d in registry.all("curves") if ({d.get("run_a"), d.get("run_b")} <= ids or
              (len(ids) == 1 and ids & {d.get("run_a"), d.get("run_b")})) and (not methods or d["method"] in methods)]
    kept, _ = distinct_curves(registry, inside)
    if not kept:
        raise UserError(f"no stored curve between {', '.join(sorted(ids))}: interpolate them first "
                        f"(lmctui-cli interp {' '.join(sorted(ids))} --all-pairs)")
    return [{**view(d, CURVE_FIELDS), **view(d, CURVE_SERIES)} for d in kept]


def training_of_runs(registry: Registry, run_ids: list[str]) -> list[dict]:
    """Each run's record with its per-epoch history (metrics.jsonl)."""
    runs = []
    for prefix in run_ids:
        doc = registry.resolve("runs", prefix)
        runs.append({**doc, "history": read_metrics(registry.run_dir(doc["id"]) / METRICS)})
    return runs


def plot(registry: Registry, kind: str, ids: list[str], out: str | Path, style: str = "screen",
         threshold: float = 0.1, method: str = "aligned", metric: str = "loss_barrier_test",
         methods: tuple[str, ...] = (), linkage: str = "average") -> dict:
    """Draw one kind of figure of `ids` (runs; a sweep for `sweep`) into `out`: `methods` picks the
    curves' methods, `threshold`, `method`, `metric` and `linkage` are the basins' (as `basins`)."""
    if kind not in FIGURE_KINDS:
        raise FieldError("kind", f"must be one of {', '.join(FIGURE_KINDS)}, got {kind!r}")
    path = check_figure(out, style, registry.home)
    if not ids:
        raise FieldError("ids", "name at least one " + ("sweep" if kind == "sweep" else "run"))
    if kind == "basins":
        from lmctui.service.basins import check_basins

        check_basins(ids, threshold, method, metric, linkage)
    fig = _figure(registry, kind, ids, style, threshold, method, metric, methods, linkage)
    from lmctui.figures import save_figure

    save_figure(fig, path)
    return {"path": str(path), "kind": kind, "style": style, "bytes": path.stat().st_size}


def _figure(registry: Registry, kind: str, ids: list[str], style: str, threshold: float, method: str, metric: str,
            methods: tuple[str, ...], linkage: str):
    from lmctui import figures

    if kind == "curves":
        return figures.curves_figure(curves_of_runs(registry, ids, methods), style)
    if kind == "training":
        return figures.training_figure(training_of_runs(registry, ids), style)
    if kind == "sweep":
        if len(ids) != 1:
            raise FieldError("ids", f"sweep takes one sweep id, got {len(ids)}")
        doc = registry.resolve("sweeps", ids[0])
        rows = doc.get("rows") or []
        context = [d for d in (registry.get("runs", r.get("run_a")) for r in rows[:1]) if d]
        return figures.sweep_figure(rows, (doc.get("params") or {}).get("axis") or "value", metric, style, context)
    from lmctui.service.basins import basins

    found = basins(registry, ids, threshold, method, metric, linkage)
    context = [registry.get("runs", r) for r in found["runs"][:1]]
    return figures.basins_figure(found["matrix"], found["runs"], threshold, metric, style, context,
                                 f"{found['count']} basin(s), {method} barriers", linkage)


def export_figure_path(registry: Registry, kind: str, name: str) -> Path:
    """Where the app's figure key writes: HOME/exports/<kind>-<name>-<time>.pdf."""
    folder = registry.home / "exports"
    folder.mkdir(exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60]
    return folder / f"{kind}-{safe}-{time.strftime('%Y%m%d-%H%M%S')}{APP_FORMAT}"


def width_sweep_figure(registry: Registry, out: str | Path, style: str = "screen") -> dict:
    """The app's Sweeps pane as a figure: every stored curve's test loss barrier against width,
    one line per method and setting, the mean with +-1 sd over pairs."""
    from lmctui.figures import save_figure, sweep_figure
    from lmctui.service.views import width_sweep

    path = check_figure(out, style, registry.home)
    rows = width_sweep(registry.all("curves"))
    settings = {r["setting"] for r in rows}
    lines = [{"value": r["width"], "method": r["method"] if len(settings) == 1 else f"{r['method']} {r['setting']}",
              "loss_barrier_test_mean": r["mean"], "loss_barrier_test_std": r["std"] or 0.0} for r in rows]
    context = [{"dataset": s.split()[0], "arch": s.split()[1]} for s in sorted(settings)]
    save_figure(sweep_figure(lines, "width", style=style, context=context), path)
    return {"path": str(path), "kind": "widths", "style": style, "bytes": path.stat().st_size}
