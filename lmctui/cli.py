"""`lmctui-cli`: the scripting interface, a list of thin commands.

Each command builds a request, calls `service.run.run` through `cli_run.run_request` (which
turns `--executor`, `--queue` and the cluster options into a placement) and renders the
result (`cli_render`). The options' types and defaults are in `cli_options`; which options go
together is the request's and the placement's rule, not a command's. Only the service and
presentation modules are imported here, and torch only inside the work, so `--help` and
every refusal of bad input answer at once. Exit codes: 0 success, 2 bad input (one line on
stderr), 1 failure while working, 130 / 143 stopped by Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from lmctui import cli_render as render
from lmctui.cli_options import (AlignMethod, Arch, ArchArgs, AverageMethod, BasinLinkage, BasinMethod, BasinMetric, BatchSize,
                                ArchDataset, CurveMethods, Depth, Device, Epochs, Filters, Heads, Home, Json, LearningRate,
                                MatchSeed, Modulus, Norm, Optimizer, Out, Patch, PlacementChoice, Restarts, RunsOfBasins,
                                SteBatch, SteLr, SteSteps, Threshold, TrainFraction, Width, ImageSize, matching,
                                placement_options, read_json)
from lmctui.cli_output import StepProgress, TrainProgress, emit_json, message, print_table
from lmctui.cli_models import import_, spec
from lmctui.cli_plot import plot_app
from lmctui.cli_run import command, registry_at, run_pairs, run_request, signals_interrupt, stops_between_steps
from lmctui.configs import (CONSISTENCY_POINTS, DEFAULT_SWEEP_SEEDS, DEFAULT_SWEEP_WIDTHS, DataConfig,
                            InterpolationOptions, ModelConfig, TrainConfig, canonical_dataset, dataset_for,
                            default_width)
from lmctui.errors import FieldError, UserError
from lmctui.parsing import parse_csv_words, parse_filter, parse_int_list
from lmctui.service.methods import DEFAULT_CURVE_METHODS, DEFAULT_METHOD, curve_methods
from lmctui.usermodel import parse_arch_args

app = typer.Typer(help="lmctui: train, align, interpolate and average networks from scripts.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None)
export_app = typer.Typer(help="Write a table as CSV.", no_args_is_help=True)
app.add_typer(export_app, name="export")
cluster_app = typer.Typer(help="The Slurm cluster: is it usable from here?", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
app.add_typer(plot_app, name="plot")
TABLE_PAGE = 50  # rows a terminal table shows unless --limit says otherwise
JSON_PAGE = 1000  # rows `list --json` prints unless --limit says otherwise: at 100,000 runs, a page is read, not the table


@app.command()
@command
@placement_options
def train(
    dataset: ArchDataset = None,
    arch: Arch = "mlp",
    width: Width = None,
    arch_arg: ArchArgs = None,
    depth: Depth = ModelConfig.depth,
    norm: Norm = "none",
    heads: Heads = ModelConfig.heads,
    patch: Patch = ModelConfig.patch,
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0,1,2 or 0-7: one run each")] = "0",
    init_seed: Annotated[Optional[int], typer.Option(help="Same init seed for every run")] = None,
    data_seed: Annotated[Optional[int], typer.Option(help="Same data-order seed for every run")] = None,
    epochs: Epochs = TrainConfig.epochs,
    lr: LearningRate = None,
    optimizer: Optimizer = TrainConfig.optimizer,
    momentum: Annotated[float, typer.Option(help="SGD momentum")] = TrainConfig.momentum,
    weight_decay: Annotated[float, typer.Option()] = TrainConfig.weight_decay,
    batch_size: BatchSize = TrainConfig.batch_size,
    warmup: Annotated[float, typer.Option(help="Linear warm-up epochs")] = TrainConfig.warmup_epochs,
    schedule: Annotated[str, typer.Option(help="constant|cosine")] = TrainConfig.schedule,
    save_epochs: Annotated[Optional[str], typer.Option(help="Keep checkpoints at these epochs, e.g. 0,1,5")] = None,
    init_from: Annotated[Optional[str], typer.Option(help="Start from RUN or RUN@EPOCH (spawning)")] = None,
    n_samples: Annotated[int, typer.Option(help="Toy data: examples in train + test")] = DataConfig.n_samples,
    noise: Annotated[Optional[float], typer.Option(help="Toy data: input noise")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Folder of MNIST/Fashion-MNIST/CIFAR-10 files")] = None,
    download: Annotated[bool, typer.Option(help="Download the image data set into --data-dir")] = False,
    train_fraction: TrainFraction = DataConfig.train_fraction,
    modulus: Modulus = DataConfig.modulus,
    image_size: ImageSize = None,
    device: Device = "auto",
    vectorize: Annotated[bool, typer.Option("--vectorize/--no-vectorize", help="Train the seeds together in one vectorized computation")] = True,
    tag: Annotated[Optional[list[str]], typer.Option(help="Tag the runs (repeatable)")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job for `lmctui-cli worker` or the app instead of training now")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="Train again the run this config.json describes (the data, model and training options above are then ignored)")] = None,
    home: Home = None,
    json: Json = False,
    placement: PlacementChoice = PlacementChoice(),
):
    """Train one network per seed into the registry."""
    from lmctui.service.requests import TrainRequest

    if config is not None:
        request = TrainRequest.from_config(read_json(config, "config"), device, tuple(tag or ()))
    else:
        train_config = TrainConfig(
            optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, batch_size=batch_size,
            epochs=epochs, warmup_epochs=warmup, schedule=schedule,
            save_epochs=tuple(parse_int_list(save_epochs, "save_epochs")) if save_epochs is not None else ())
        request = TrainRequest(
            data=DataConfig(canonical_dataset(dataset_for(arch, dataset)), n_samples, noise, data_dir, download, image_size,
                            train_fraction=train_fraction, modulus=modulus), arch=arch,
            width=default_width(arch) if width is None else width, depth=depth, norm=norm, heads=heads, patch=patch,
            train=train_config, seeds=tuple(parse_int_list(seeds)), init_seed=init_seed, data_seed=data_seed,
            init_from=init_from, device=device, tags=tuple(tag or ()), vectorize=vectorize,
            arch_args=parse_arch_args(arch_arg or ()))
    view = TrainProgress(enabled=True)
    run_request(request, placement, home, json, lambda made: render.runs(made, json), queue, view,
                {"on_event": view})


@app.command("list")
@command
def list_(
    what: Annotated[str, typer.Argument(help="runs, curves, alignments, averages or sweeps")] = "runs",
    filter: Filters = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="Only runs with this tag (repeatable)")] = None,
    columns: Annotated[Optional[str], typer.Option(help="Comma list of the fields to show as columns")] = None,
    limit: Annotated[Optional[int], typer.Option(help=f"Only the newest N rows: the last N added to the registry, "
                                                 f"shown oldest first (a table shows {TABLE_PAGE} by default, --json "
                                                 f"{JSON_PAGE:,}; 0: all). An import keeps its runs' created times, "
                                                 "which the order of adding then need not follow. --filter, --tag "
                                                 "and curves read the whole table")] = None,
    home: Home = None,
    json: Json = False,
):
    """List the runs (or curves, alignments, averages, sweeps) in the registry."""
    from lmctui.records import LISTINGS
    from lmctui.service.catalog import list_page

    if limit is not None and not 0 <= limit <= 10**9:
        raise FieldError("limit", f"must be from 0 to 1000000000, got {limit}")
    listing = LISTINGS.get(what)
    shown = parse_csv_words(columns, listing.fields, "columns") if columns and listing else None
    registry = registry_at(home)
    if limit is None:
        limit = JSON_PAGE if json else TABLE_PAGE
    rows, total = list_page(registry, what, [parse_filter(f) for f in filter or []], tag or [], limit)
    if what == "curves":
        from lmctui.service.curves import distinct_curves

        repeats = distinct_curves(registry)[1]
        if repeats:
            message(f"({repeats} older repeat(s) of a curve left out: each curve is shown once, its newest)")
    if json:
        emit_json({what: rows})
    elif not rows:
        message(f"no {what}{' match' if filter or tag else ' yet'}")
        return
    else:
        print_table(rows, list(shown or listing.columns), drop=() if shown else listing.drop, wrap=("error",))
    if len(rows) < total:
        message(f"(the newest {len(rows)} of {total} {what}; --limit 0 shows all)")


@app.command()
@command
def show(run: Annotated[str, typer.Argument(help="Run, alignment or curve id, or a unique prefix (runs are looked "
                                              "up first)")],
         home: Home = None, json: Json = False):
    """Show one run (its record, config and per-epoch metrics), one alignment (every restart's objective)
    or one curve (every alpha)."""
    from lmctui.service.catalog import show_entry

    what, shown = show_entry(registry_at(home), run)
    if json:
        emit_json(shown)
    else:
        {"alignment": render.alignment_shown, "curve": render.curve_shown}.get(what, render.run_shown)(shown)


@app.command()
@command
def rm(run: Annotated[str, typer.Argument(help="Run id or unique prefix")], home: Home = None, json: Json = False):
    """Remove a run and its files."""
    from lmctui.service.catalog import remove_run

    removed = remove_run(registry_at(home), run)
    emit_json({"removed": removed}) if json else message(f"removed run {removed['id']}")
    if removed["children"] and not json:
        message(f"note: runs {', '.join(removed['children'])} were made from it; they stay, naming a parent "
                "that is gone")


@export_app.command("runs")
@command
def export_runs(
    out: Out,
    filter: Filters = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="Only runs with this tag")] = None,
    home: Home = None,
    json: Json = False,
):
    """Write the runs table as CSV."""
    from lmctui.service.catalog import export_runs as export

    result = export(registry_at(home), out, [parse_filter(f) for f in filter or []], tag or [])
    emit_json(result) if json else message(f"wrote {result['rows']} runs to {result['path']}")


@export_app.command("alignments")
@command
def export_alignments(
    out: Out,
    filter: Filters = None,
    home: Home = None,
    json: Json = False,
):
    """Write the alignments as CSV: every restart's objective (';'-joined), the one kept and their spread."""
    from lmctui.service.catalog import export_alignments as export

    result = export(registry_at(home), out, [parse_filter(f) for f in filter or []])
    emit_json(result) if json else message(f"wrote {result['rows']} alignments to {result['path']}")


@app.command()
@command
@placement_options
def align(
    run_a: Annotated[str, typer.Argument(help="Reference run (A)")],
    run_b: Annotated[str, typer.Argument(help="Run to permute (B)")],
    method: AlignMethod = DEFAULT_METHOD,
    seed: MatchSeed = 0,
    restarts: Restarts = None,
    ste_steps: SteSteps = None,
    ste_batch: SteBatch = None,
    ste_lr: SteLr = None,
    device: Device = "auto",
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job instead of aligning now")] = False,
    home: Home = None,
    json: Json = False,
    placement: PlacementChoice = PlacementChoice(),
):
    """Permute B's hidden units to match A; register the permuted B as a new run."""
    from lmctui.service.requests import AlignRequest

    request = AlignRequest(run_a, run_b, method, seed, device, matching(restarts, ste_steps, ste_batch, ste_lr))
    view = StepProgress()
    run_request(request, placement, home, json, lambda made: render.alignment(made, json), queue, view,
                {"on_step": view.steps("STE matching")})


@app.command()
@command
@placement_options
def interp(
    runs: Annotated[list[str], typer.Argument(help="Run A (alpha = 0) and run B (alpha = 1); with --all-pairs, "
                                                   "two or more runs")],
    methods: CurveMethods = ",".join(DEFAULT_CURVE_METHODS),
    points: Annotated[int, typer.Option(help="Alphas on the grid, ends included")] = InterpolationOptions.points,
    repair: Annotated[bool, typer.Option("--repair", help="REPAIR: rescale units to the endpoints' statistics")] = False,
    reset_bn: Annotated[Optional[bool], typer.Option("--reset-bn/--no-reset-bn", help="Re-estimate BatchNorm statistics at each alpha [default: where the nets have BatchNorm]")] = None,
    refine: Annotated[bool, typer.Option("--refine/--no-refine", help="Refine the test barriers between grid points (golden-section search) and record the alpha of the maximum")] = InterpolationOptions.refine,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the curves in the terminal")] = False,
    seed: MatchSeed = 0,
    restarts: Restarts = None,
    ste_steps: SteSteps = None,
    ste_batch: SteBatch = None,
    ste_lr: SteLr = None,
    device: Device = "auto",
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job instead of interpolating now")] = False,
    all_pairs: Annotated[bool, typer.Option(
        "--all-pairs", help="Every pair of the runs that lacks these curves (pairs that cannot be compared are "
                            "named and left)")] = False,
    recompute: Annotated[bool, typer.Option("--recompute", help="Measure again a curve already stored with the "
                                                                "same settings; the new one replaces it")] = False,
    home: Home = None,
    json: Json = False,
    placement: PlacementChoice = PlacementChoice(),
):
    """Loss and accuracy along the line from A to B, naive and after alignment (a curve already stored
    with the same settings is shown, not measured again)."""
    from lmctui.service.requests import InterpRequest

    chosen = parse_csv_words(methods, curve_methods(), "methods")
    if len(runs) != 2 and not all_pairs:
        raise FieldError("runs", f"takes two runs, A and B (--all-pairs takes two or more), got {len(runs)}")
    request = InterpRequest(*runs[:2], chosen, InterpolationOptions(points, reset_bn, repair, refine), seed, device,
                            matching(restarts, ste_steps, ste_batch, ste_lr), recompute)
    view = StepProgress()
    progress = {"on_progress": view.points(), "on_step": view.steps("STE matching")}
    if all_pairs:
        run_pairs(request, runs, placement, home, json, queue, view, progress)
        return
    run_request(request, placement, home, json, lambda made: render.curves(made, json, refine, plot), queue, view,
                progress)


@app.command()
@command
@placement_options
def average(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids")],
    method: AverageMethod = DEFAULT_METHOD,
    reference: Annotated[Optional[str], typer.Option(help="Run to align the others to [default: the first]")] = None,
    seed: MatchSeed = 0,
    restarts: Restarts = None,
    ste_steps: SteSteps = None,
    ste_batch: SteBatch = None,
    ste_lr: SteLr = None,
    device: Device = "auto",
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job instead of averaging now")] = False,
    repair: Annotated[bool, typer.Option("--repair", help="REPAIR: set each unit's statistics to the mean of the "
                                                          "aligned runs' (not for a naive average)")] = False,
    home: Home = None,
    json: Json = False,
    placement: PlacementChoice = PlacementChoice(),
):
    """Average the weights of K runs; compare with each endpoint and the ensemble."""
    from lmctui.service.requests import AverageRequest

    request = AverageRequest(tuple(runs), method, reference, seed, device, matching(restarts, ste_steps, ste_batch,
                                                                                     ste_lr), repair)
    view = StepProgress()
    run_request(request, placement, home, json, lambda made: render.average(made, json), queue, view,
                {"on_step": view.steps("STE matching")})


@export_app.command("barriers")
@command
def export_barriers(out: Out, home: Home = None, json: Json = False):
    """Write every measured curve's barriers as CSV (a curve stored twice: its newest)."""
    from lmctui.service.catalog import export_barriers as export

    result = export(registry_at(home), out)
    emit_json(result) if json else message(f"wrote {result['rows']} curves to {result['path']}")


@export_app.command("curves")
@command
def export_curves(out: Out, filter: Filters = None, home: Home = None, json: Json = False):
    """Write the curves in long format: one row per (curve, alpha) with the pair, method, settings and metrics."""
    from lmctui.service.curves import export_curves as export

    result = export(registry_at(home), out, [parse_filter(f) for f in filter or []])
    emit_json(result) if json else message(f"wrote {result['rows']} rows ({result['curves']} curves) to "
                                           f"{result['path']}")


@app.command()
@command
def consistency(
    runs: Annotated[list[str], typer.Argument(help="Three or more compatible run ids (up to 16)")],
    seed: MatchSeed = 0,
    restarts: Restarts = None,
    points: Annotated[int, typer.Option(help="Alphas per barrier, ends included")] = CONSISTENCY_POINTS,
    device: Device = "auto",
    executor: Annotated[str, typer.Option(help="local only: consistency runs here, now (it is not a job kind)")] = "local",
    home: Home = None,
    json: Json = False,
):
    """Cycle consistency of the runs' pairwise weight matchings around every triangle, and the barrier along
    the direct, the composed, the shared-frame (C2M3-style) and the MergeMany maps."""
    from lmctui.service.consistency import check_consistency
    from lmctui.service.requests import Matching

    if executor != "local":
        raise FieldError("executor", f"{executor} is not for consistency: it runs here, now (train, align, interp, "
                                     "average and sweep run on Slurm)" if executor == "slurm" else
                         f"must be local for consistency, got {executor!r}")
    registry = registry_at(home)
    check_consistency(registry, runs, seed, Matching(restarts), points, device)  # refused here, before torch
    signals_interrupt()
    from lmctui.service.consistency import consistency as measure

    with stops_between_steps():
        found = measure(registry, runs, seed, Matching(restarts), points, device,
                        on_progress=lambda f, text: message(f"[{f:4.0%}] {text}"))
    emit_json({"consistency": found}) if json else render.consistency(found)


@app.command()
@command
def basins(
    runs: RunsOfBasins,
    threshold: Threshold,
    method: BasinMethod = "aligned",
    metric: BasinMetric = "loss_barrier_test",
    linkage: BasinLinkage = "average",
    home: Home = None,
    json: Json = False,
):
    """Cluster runs into basins by their stored pairwise barriers (hierarchical clustering with a threshold)."""
    from lmctui.service.basins import basins as find

    found = find(registry_at(home), runs, threshold, method, metric, linkage)
    emit_json({"basins": found}) if json else render.basins(found, metric, threshold, method, linkage)


@export_app.command("basins")
@command
def export_basins(
    runs: RunsOfBasins,
    out: Out,
    threshold: Threshold,
    method: BasinMethod = "aligned",
    metric: BasinMetric = "loss_barrier_test",
    linkage: BasinLinkage = "average",
    home: Home = None,
    json: Json = False,
):
    """Write the basins of the runs as CSV: one row per network with its basin."""
    from lmctui.service.basins import export_basins as export

    result = export(registry_at(home), runs, out, threshold, method, metric, linkage)
    emit_json(result) if json else message(f"wrote {result['rows']} runs in {result['count']} basin(s) to "
                                           f"{result['path']}")


@app.command()
@command
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Fewer epochs and repetitions")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the JSON here")] = None,
    json: Json = False,
):
    """Time lmctui against plain reference code on this machine."""
    import json as json_module

    from lmctui.bench.suite import run

    from lmctui.export_files import export_target, write_export

    target = export_target(out, None) if out is not None else None
    results = run(quick, log=message)
    if target is not None:
        write_export(target, lambda f: f.write(json_module.dumps(results, indent=2)))
    if json:
        emit_json(results)


@app.command()
@command
@placement_options
def sweep(
    dataset: ArchDataset = None,
    arch: Arch = "mlp",
    depth: Depth = ModelConfig.depth,
    norm: Norm = "none",
    widths: Annotated[str, typer.Option(help="Widths to sweep, e.g. 8,32,128")] = ",".join(map(str, DEFAULT_SWEEP_WIDTHS)),
    width: Annotated[Optional[int], typer.Option(help="The width when --sweep names another axis")] = None,
    arch_arg: ArchArgs = None,
    image_size: ImageSize = None,
    heads: Heads = ModelConfig.heads,
    train_fraction: TrainFraction = DataConfig.train_fraction,
    sweep_axis: Annotated[Optional[str], typer.Option("--sweep", help="Another axis: lr=0.01,0.1, depth=1,2, heads=1,2,4 or optimizer=sgd,adam ...")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per value (>= 2)")] = DEFAULT_SWEEP_SEEDS,
    epochs: Epochs = TrainConfig.epochs,
    methods: CurveMethods = ",".join(DEFAULT_CURVE_METHODS),
    optimizer: Optimizer = TrainConfig.optimizer,
    lr: LearningRate = None,
    batch_size: BatchSize = TrainConfig.batch_size,
    points: Annotated[int, typer.Option(help="Alphas per curve")] = InterpolationOptions.points,
    plot: Annotated[bool, typer.Option("--plot", help="Draw barrier against the swept value")] = False,
    restarts: Restarts = None,
    ste_steps: SteSteps = None,
    ste_batch: SteBatch = None,
    ste_lr: SteLr = None,
    device: Device = "auto",
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job instead of sweeping now")] = False,
    home: Home = None,
    json: Json = False,
    placement: PlacementChoice = PlacementChoice(),
):
    """Train N seeds per value, measure every pair's barriers, average them: one table."""
    from lmctui.service.requests import SweepRequest, TrainRequest, sweep_seeds, sweep_values

    axis, values = "width", tuple(parse_int_list(widths, "widths"))
    if sweep_axis is not None:
        axis, sep, raw = sweep_axis.partition("=")
        if not sep:
            raise FieldError("sweep", f"takes axis=v1,v2, got {sweep_axis!r}")
        axis = axis.strip()
        values = sweep_values(axis, [v.strip() for v in raw.split(",") if v.strip()])
    data = DataConfig(canonical_dataset(dataset_for(arch, dataset)), image_size=image_size,
                      train_fraction=train_fraction)
    base = TrainRequest(data, arch, default_width(arch) if width is None else width, depth, norm,
                        TrainConfig(optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs),
                        seeds=sweep_seeds(seeds), heads=heads, device=device, arch_args=parse_arch_args(arch_arg or ()))
    request = SweepRequest(base, axis, values, parse_csv_words(methods, curve_methods(), "methods"), points,
                           matching(restarts, ste_steps, ste_batch, ste_lr))
    run_request(request, placement, home, json, lambda made: render.sweep(made, json, axis, plot), queue,
                progress={"on_progress": lambda f, text: message(f"[{f:4.0%}] {text}")})


@export_app.command("sweep")
@command
def export_sweep(
    sweep_id: Annotated[str, typer.Argument(help="Sweep id or unique prefix")],
    out: Out,
    summary: Annotated[bool, typer.Option("--summary", help="The per-value summary instead of every pair")] = False,
    home: Home = None,
    json: Json = False,
):
    """Write a sweep's rows (one per value, method and pair) or its summary as CSV."""
    from lmctui.service.catalog import export_sweep as export

    result = export(registry_at(home), sweep_id, out, summary)
    emit_json(result) if json else message(f"wrote {result['rows']} rows of sweep {result['sweep']} to {result['path']}")


@app.command()
@command
def worker(
    cpu_slots: Annotated[int, typer.Option(help="CPU jobs run at once")] = 1,
    once: Annotated[bool, typer.Option("--once", help="Exit when the queue is empty")] = False,
    home: Home = None,
    json: Json = False,
):
    """Run queued jobs headless (outlives the SSH session under nohup or tmux).

    Ctrl-C or SIGTERM stops the running jobs between batches, marks them interrupted,
    and exits 130 or 143.
    """
    import threading

    from lmctui.service.jobs import Jobs

    jobs = Jobs(registry_at(home), cpu_slots, name="cli")
    stopped, received = threading.Event(), []

    def on_signal(signum, frame):
        received.append(signum)
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    jobs.start_workers(idle_exit=once)
    message(f"worker: {cpu_slots} CPU slot(s), home {jobs.registry.home}; Ctrl-C stops")
    jobs.serve(stopped)
    if received:
        message("worker: stopped; its running jobs are marked interrupted")
        raise typer.Exit(128 + received[0])
    listed = jobs.list()
    emit_json({"jobs": listed}) if json else message(f"worker: queue empty ({len(listed)} jobs in the registry)")


@app.command()
@command
def jobs(
    cancel: Annotated[Optional[str], typer.Option(help="Cancel this job (id or prefix); a Slurm job by scancel")] = None,
    requeue: Annotated[Optional[str], typer.Option(help="Re-queue this failed/cancelled/interrupted job (a Slurm job is submitted again)")] = None,
    log: Annotated[Optional[str], typer.Option(help="Print the end of this Slurm job's error log")] = None,
    home: Home = None,
    json: Json = False,
):
    """List the job queue (Slurm jobs with their state, fresh from sacct); cancel or re-queue a job."""
    from lmctui.service.jobs import Jobs

    queue = Jobs(registry_at(home))
    targets = [queue.resolve(p) for p in (cancel, requeue, log) if p is not None]  # refuse bad ids before acting
    if log is not None and not targets[-1].get("slurm_stderr"):
        raise UserError(f"job {targets[-1]['id']} ran here, not on Slurm: it has no log (its error: "
                        f"{targets[-1].get('error')})")
    if cancel is not None:
        queue.cancel(targets[0]["id"])
    if requeue is not None:
        queue.requeue(targets[1 if cancel is not None else 0]["id"])
    try:  # fresh states of the jobs that run elsewhere; a cluster that does not answer is said, not fatal
        queue.refresh_cluster()
    except Exception as err:
        message(f"warning: Slurm states not refreshed ({type(err).__name__}: {' '.join(str(err).split())[:200]})")
    if log is not None:
        print(queue.log_tail(targets[-1]["id"]), end="")
        return
    listed = queue.list()
    emit_json({"jobs": listed}) if json else render.jobs(listed)


@cluster_app.command("check")
@command
def cluster_check(
    partition: Annotated[Optional[str], typer.Option(help="Check this partition [cluster.json, else the default]")] = None,
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="Run a tiny job that writes and locks a file in the home from a compute node")] = True,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the probe job")] = 120,
    home: Home = None,
    json: Json = False,
):
    """Is Slurm reachable (sinfo), which partitions exist, can the compute nodes write and flock in the home?"""
    from lmctui.service.slurm.check import check_cluster
    from lmctui.service.slurm.settings import settings_for

    if not 1 <= timeout <= 3600:
        raise FieldError("timeout", f"must be from 1 to 3600 seconds, got {timeout}")
    registry = registry_at(home)
    settings = settings_for(registry.home, partition=partition)
    report = check_cluster(registry.home, settings, probe, timeout, log=message)
    if json:
        emit_json(report)
    else:
        message(f"ok: Slurm answers; partitions {', '.join(p['name'] for p in report['partitions'])}; home "
                f"{report['home']} ({report['filesystem']}) writable with working flock"
                + (f", also from node {report['probe']['node']}" if report.get("probe") else ""))


app.command("import")(import_)  # your own networks: cli_models.py
app.command()(spec)


def main() -> None:
    """Run the CLI; usage errors (unknown option, bad type) get one line and exit 2, like every refusal.

    Typer's exception classes moved between releases (click's, then its own copy), so
    they are told apart by what they carry, not by their import path.
    """
    import warnings

    # numpy's and torch's numeric warnings (an overflow in a diverged run's curve) would be extra
    # lines on stderr; what they warn of is in the results (NaN, a failed run)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    try:
        code = app(standalone_mode=False)
    except Exception as err:
        if type(err).__name__ == "NoArgsIsHelpError":
            print(err.ctx.get_help())
            code = 0
        elif type(err).__name__ == "Abort":
            message("interrupted")
            code = 130
        elif hasattr(err, "format_message") and hasattr(err, "exit_code"):
            ctx = getattr(err, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            message(" ".join(f"error: {err.format_message()}{hint}".split()))
            code = err.exit_code
        else:
            raise
    sys.exit(code if isinstance(code, int) else 0)

# Commands that only read: after one, nothing is left to clean up but the heap.
READ_ONLY_COMMANDS = ("list", "show", "export")


def script() -> None:
    """The `lmctui-cli` script: `main()`; after a read-only command the process leaves without
    tearing its heap down (freeing a parsed 10,000-run table one object at a time takes 0.13 s,
    more than listing it)."""
    leave_at_once = len(sys.argv) > 1 and sys.argv[1] in READ_ONLY_COMMANDS
    try:
        main()
    except SystemExit as exit_:
        if not leave_at_once:
            raise
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (BrokenPipeError, ValueError):  # a reader that left, or a closed stream
                code = code or 1
        os._exit(code)


if __name__ == "__main__":
    main()
