"""`lmctui-cli`: the scripting interface. Each command parses, calls the service, renders.

Torch is imported only inside commands that do work, so `--help` answers at once.
Exit codes: 0 success, 2 bad input (one line on stderr), 1 failure while working.
"""

from __future__ import annotations

import functools
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from lmctui.cli_output import TrainProgress, emit_json, message, print_table
from lmctui.errors import UserError
from lmctui.parsing import parse_filter, parse_int_list

app = typer.Typer(help="lmctui: train, align, interpolate and average networks from scripts.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
export_app = typer.Typer(help="Write a table as CSV.", no_args_is_help=True)
app.add_typer(export_app, name="export")

Home = Annotated[Optional[Path], typer.Option("--home", help="Registry folder (else $LMCTUI_HOME, else ./lmc-runs).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Device = Annotated[str, typer.Option(help="auto|cpu|cuda[:N]")]
MatchSeed = Annotated[int, typer.Option("--seed", help="Seed of the weight-matching visiting order")]
TABLE_COLUMNS = ["id", "dataset", "arch", "width", "depth", "seed", "optimizer", "lr", "epochs",
                 "status", "test_acc", "test_loss", "tags"]


class WorkFailed(Exception):
    """The command ran but some of its work failed (exit 1)."""


def command(func):
    """Turn errors into exit codes and one-line messages instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as err:
            message(f"error: {err}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            message("interrupted")
            raise typer.Exit(130) from None
        except WorkFailed as err:
            message(f"failed: {err}")
            raise typer.Exit(1) from None
        except Exception as err:  # the last line of defence: no traceback for the user
            message(f"failed: {type(err).__name__}: {err}")
            raise typer.Exit(1) from None

    return wrapper


def _registry(home):
    from lmctui.service.catalog import open_registry

    return open_registry(home)


def _sigterm_as_interrupt() -> None:
    """Ctrl-C and a kill (SIGTERM) unwind the work, so the run is marked interrupted.

    SIGINT is set explicitly: a process started in the background inherits it ignored.
    """
    def handler(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


@app.command()
@command
def train(
    dataset: Annotated[str, typer.Option(help="moons|circles|spirals|blobs|xor|digits|mnist|fashion-mnist|cifar10")] = "moons",
    arch: Annotated[str, typer.Option(help="mlp|vgg|resnet20")] = "mlp",
    width: Annotated[int, typer.Option(help="MLP hidden units, or CNN width multiplier")] = 64,
    depth: Annotated[int, typer.Option(help="MLP hidden layers")] = 2,
    norm: Annotated[str, typer.Option(help="CNN norm: none|batch|layer")] = "none",
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0,1,2 or 0-7: one run each")] = "0",
    init_seed: Annotated[Optional[int], typer.Option(help="Same init seed for every run")] = None,
    data_seed: Annotated[Optional[int], typer.Option(help="Same data-order seed for every run")] = None,
    epochs: Annotated[int, typer.Option()] = 20,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate [default: 0.05 sgd, 0.001 adam]")] = None,
    optimizer: Annotated[str, typer.Option(help="sgd|adam")] = "sgd",
    momentum: Annotated[float, typer.Option(help="SGD momentum")] = 0.9,
    weight_decay: Annotated[float, typer.Option()] = 0.0,
    batch_size: Annotated[int, typer.Option()] = 64,
    warmup: Annotated[float, typer.Option(help="Linear warm-up epochs")] = 0.0,
    schedule: Annotated[str, typer.Option(help="constant|cosine")] = "constant",
    save_epochs: Annotated[Optional[str], typer.Option(help="Keep checkpoints at these epochs, e.g. 0,1,5")] = None,
    init_from: Annotated[Optional[str], typer.Option(help="Start from RUN or RUN@EPOCH (spawning)")] = None,
    n_samples: Annotated[int, typer.Option(help="Toy data: examples in train + test")] = 1000,
    noise: Annotated[Optional[float], typer.Option(help="Toy data: input noise")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Folder of MNIST/Fashion-MNIST/CIFAR-10 files")] = None,
    download: Annotated[bool, typer.Option(help="Download the image data set into --data-dir")] = False,
    device: Device = "auto",
    vectorize: Annotated[bool, typer.Option("--vectorize/--no-vectorize", help="Train the seeds together in one vectorized computation")] = True,
    tag: Annotated[Optional[list[str]], typer.Option(help="Tag the runs (repeatable)")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job for `lmctui-cli worker` or the app instead of training now")] = False,
    home: Home = None,
    json: Json = False,
):
    """Train one network per seed into the registry."""
    from lmctui.core.data import DataConfig
    from lmctui.core.training import TrainConfig
    from lmctui.service.training import TrainRequest, train_runs

    from lmctui.choices import DEFAULT_LR

    train_config = TrainConfig(
        optimizer=optimizer, lr=lr if lr is not None else DEFAULT_LR.get(optimizer, 0.05),
        momentum=momentum, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
        warmup_epochs=warmup, schedule=schedule,
        save_epochs=tuple(parse_int_list(save_epochs, "--save-epochs")) if save_epochs else ())
    request = TrainRequest(
        data=DataConfig(dataset, n_samples, noise, data_dir, download), arch=arch, width=width,
        depth=depth, norm=norm, train=train_config, seeds=tuple(parse_int_list(seeds)),
        init_seed=init_seed, data_seed=data_seed, init_from=init_from, device=device, tags=tuple(tag or ()),
        vectorize=vectorize)
    registry = _registry(home)
    if queue:
        from lmctui.jobs.queue import JobQueue
        from lmctui.service.jobs import train_request_to_params
        from lmctui.service.training import prepare_training

        prepare_training(registry, request)  # refuse bad input now, not in the worker
        job = JobQueue(registry).submit("train", train_request_to_params(request), device,
                                        f"train {dataset} {arch} w{width} seeds {seeds}")
        emit_json({"job": job}) if json else message(f"queued job {job['id']}")
        return
    _sigterm_as_interrupt()
    progress = TrainProgress(enabled=True)
    with progress.running():
        runs = train_runs(registry, request, on_event=progress)
    _render_runs(runs, json)
    failed = [r for r in runs if r["status"] != "done"]
    if failed:
        raise WorkFailed("; ".join(f"run {r['id']}: {r.get('error')}" for r in failed))


@app.command("list")
@command
def list_(
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="key=value (repeatable)")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="Only runs with this tag (repeatable)")] = None,
    home: Home = None,
    json: Json = False,
):
    """List the runs in the registry."""
    from lmctui.service.catalog import list_runs

    _render_runs(list_runs(_registry(home), [parse_filter(f) for f in filter or []], tag or []), json)


@app.command()
@command
def show(run: Annotated[str, typer.Argument(help="Run id or unique prefix")], home: Home = None, json: Json = False):
    """Show one run: its record, config and per-epoch metrics."""
    from lmctui.records import RUN_FIELDS
    from lmctui.service.catalog import show_run

    shown = show_run(_registry(home), run)
    if json:
        emit_json(shown)
        return
    print_table([{"field": k, "value": shown["run"][k]} for k in RUN_FIELDS], ["field", "value"],
                f"run {shown['run']['id']}")
    print_table(shown["metrics"], ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"], "metrics")


@app.command()
@command
def rm(run: Annotated[str, typer.Argument(help="Run id or unique prefix")], home: Home = None, json: Json = False):
    """Remove a run and its files."""
    from lmctui.service.catalog import remove_run

    removed = remove_run(_registry(home), run)
    emit_json({"removed": removed}) if json else message(f"removed run {removed['id']}")


@export_app.command("runs")
@command
def export_runs(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="key=value (repeatable)")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="Only runs with this tag")] = None,
    home: Home = None,
    json: Json = False,
):
    """Write the runs table as CSV."""
    from lmctui.service.catalog import export_runs as export

    result = export(_registry(home), out, [parse_filter(f) for f in filter or []], tag or [])
    emit_json(result) if json else message(f"wrote {result['rows']} runs to {result['path']}")


@app.command()
@command
def align(
    run_a: Annotated[str, typer.Argument(help="Reference run (A)")],
    run_b: Annotated[str, typer.Argument(help="Run to permute (B)")],
    method: Annotated[str, typer.Option(help="weight|activation")] = "weight",
    seed: MatchSeed = 0,
    device: Device = "auto",
    home: Home = None,
    json: Json = False,
):
    """Permute B's hidden units to match A; register the permuted B as a new run."""
    from lmctui.service.science import align as run_align

    alignment = run_align(_registry(home), run_a, run_b, method, seed, device)
    if json:
        emit_json({"alignment": alignment})
    else:
        print_table([alignment], ["id", "run_a", "run_b", "method", "aligned_run", "iterations", "objective",
                                  "seconds", "reused"])


@app.command()
@command
def interp(
    run_a: Annotated[str, typer.Argument(help="Run A (alpha = 0)")],
    run_b: Annotated[str, typer.Argument(help="Run B (alpha = 1)")],
    methods: Annotated[str, typer.Option(help="Comma list of naive,weight,activation")] = "naive,weight",
    points: Annotated[int, typer.Option(help="Alphas on the grid, ends included")] = 25,
    repair: Annotated[bool, typer.Option("--repair", help="REPAIR: rescale units to the endpoints' statistics")] = False,
    reset_bn: Annotated[bool, typer.Option("--reset-bn/--no-reset-bn", help="Re-estimate BatchNorm statistics at each alpha")] = True,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the curves in the terminal")] = False,
    seed: MatchSeed = 0,
    device: Device = "auto",
    home: Home = None,
    json: Json = False,
):
    """Loss and accuracy along the line from A to B, naive and after alignment."""
    from lmctui.core.interpolation import InterpolationOptions
    from lmctui.parsing import parse_csv_words
    from lmctui.service.science import CURVE_METHODS
    from lmctui.service.science import interp as run_interp

    chosen = parse_csv_words(methods, CURVE_METHODS, "--methods")
    options = InterpolationOptions(points=points, reset_bn=reset_bn, repair=repair)
    curves = run_interp(_registry(home), run_a, run_b, chosen, options, seed, device)
    if json:
        emit_json({"curves": curves})
    else:
        print_table(curves, ["method", "loss_barrier_train", "loss_barrier_test", "error_barrier_train",
                             "error_barrier_test", "mid_acc_test"], f"{curves[0]['run_a']} -> {curves[0]['run_b']}")
    if plot:
        import sys

        from lmctui.plots import curves_plot

        stream = sys.stderr if json else sys.stdout  # --json keeps stdout for the document
        for metric in ("test_loss", "test_acc"):
            print(curves_plot(curves, metric, color=stream.isatty()), file=stream)


@app.command()
@command
def average(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids")],
    method: Annotated[str, typer.Option(help="naive|weight|activation|mergemany")] = "weight",
    reference: Annotated[Optional[str], typer.Option(help="Run to align the others to [default: the first]")] = None,
    seed: MatchSeed = 0,
    device: Device = "auto",
    home: Home = None,
    json: Json = False,
):
    """Average the weights of K runs; compare with each endpoint and the ensemble."""
    from lmctui.service.science import average as run_average

    result = run_average(_registry(home), runs, method, reference, seed, device)
    if json:
        emit_json({"average": result})
        return
    rows = [{"network": f"average ({method})", "test_acc": result["test_acc"], "test_loss": result["test_loss"]},
            {"network": "ensemble", **result["ensemble"]},
            *({"network": e["id"], "test_acc": e["test_acc"], "test_loss": e["test_loss"]} for e in result["endpoints"])]
    print_table(rows, ["network", "test_acc", "test_loss"], f"average {result['id']} -> run {result['averaged_run']}")


@export_app.command("barriers")
@command
def export_barriers(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    home: Home = None,
    json: Json = False,
):
    """Write every stored interpolation curve's barriers as CSV."""
    from lmctui.service.catalog import export_barriers as export

    result = export(_registry(home), out)
    emit_json(result) if json else message(f"wrote {result['rows']} curves to {result['path']}")


@app.command()
@command
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Fewer epochs and repetitions")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the JSON here")] = None,
    json: Json = False,
):
    """Time lmctui against plain reference code on this machine."""
    import json as json_module

    from benchmarks.suite import run

    results = run(quick, log=message)
    if out is not None:
        out.write_text(json_module.dumps(results, indent=2))
    if json:
        emit_json(results)


@app.command()
@command
def sweep(
    dataset: Annotated[str, typer.Option(help="Data set")] = "moons",
    arch: Annotated[str, typer.Option(help="mlp|vgg|resnet20")] = "mlp",
    depth: Annotated[int, typer.Option(help="MLP hidden layers")] = 1,
    norm: Annotated[str, typer.Option(help="CNN norm: none|batch|layer")] = "none",
    widths: Annotated[str, typer.Option(help="Widths to sweep, e.g. 8,32,128")] = "8,32,128",
    width: Annotated[int, typer.Option(help="The width when --sweep names another axis")] = 64,
    sweep_axis: Annotated[Optional[str], typer.Option("--sweep", help="Another axis: lr=0.01,0.1 or optimizer=sgd,adam ...")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per value (>= 2)")] = 2,
    epochs: Annotated[int, typer.Option()] = 20,
    methods: Annotated[str, typer.Option(help="Comma list of naive,weight,activation")] = "naive,weight",
    optimizer: Annotated[str, typer.Option(help="sgd|adam")] = "sgd",
    lr: Annotated[Optional[float], typer.Option(help="Learning rate [default: 0.05 sgd, 0.001 adam]")] = None,
    batch_size: Annotated[int, typer.Option()] = 64,
    points: Annotated[int, typer.Option(help="Alphas per curve")] = 25,
    plot: Annotated[bool, typer.Option("--plot", help="Draw barrier against the swept value")] = False,
    device: Device = "auto",
    home: Home = None,
    json: Json = False,
):
    """Train N seeds per value, measure every pair's barriers, average them: one table."""
    from lmctui.choices import DEFAULT_LR
    from lmctui.parsing import parse_csv_words
    from lmctui.service.sweeps import SUMMARY_FIELDS, run_sweep, sweep_params

    axis, values = "width", parse_int_list(widths, "--widths")
    if sweep_axis:
        axis, sep, raw = sweep_axis.partition("=")
        if not sep:
            raise UserError(f"--sweep takes axis=v1,v2, got {sweep_axis!r}")
        values = [v.strip() for v in raw.split(",") if v.strip()]
    train = {"optimizer": optimizer, "batch_size": batch_size, "epochs": epochs,
             "lr": lr if lr is not None else DEFAULT_LR.get(optimizer, 0.05)}
    if axis == "optimizer" and lr is None:
        train.pop("lr")
    params = sweep_params(dataset, arch, depth, axis.strip(), values, seeds,
                          parse_csv_words(methods, ("naive", "weight", "activation"), "--methods"), train,
                          width=width, norm=norm, points=points)
    registry = _registry(home)
    _sigterm_as_interrupt()
    result = run_sweep(registry, params, device, on_progress=lambda f, text: message(f"[{f:4.0%}] {text}"))
    if json:
        emit_json(result)
    else:
        print_table(result["summary"], list(SUMMARY_FIELDS), f"sweep {result['sweep']} over {axis}")
    if plot:
        import sys

        from lmctui.plots import sweep_plot

        stream = sys.stderr if json else sys.stdout
        print(sweep_plot(result["summary"], axis, color=stream.isatty()), file=stream)


@export_app.command("sweep")
@command
def export_sweep(
    sweep_id: Annotated[str, typer.Argument(help="Sweep id or unique prefix")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    summary: Annotated[bool, typer.Option("--summary", help="The per-value summary instead of every pair")] = False,
    home: Home = None,
    json: Json = False,
):
    """Write a sweep's rows (one per value, method and pair) or its summary as CSV."""
    from lmctui.records import write_csv
    from lmctui.service.sweeps import ROW_FIELDS, SUMMARY_FIELDS

    doc = _registry(home).resolve("sweeps", sweep_id)
    rows = doc.get("summary" if summary else "rows") or []
    path = write_csv(out, rows, SUMMARY_FIELDS if summary else ROW_FIELDS)
    result = {"path": str(path), "rows": len(rows), "sweep": doc["id"]}
    emit_json(result) if json else message(f"wrote {len(rows)} rows of sweep {doc['id']} to {path}")


@app.command()
@command
def worker(
    cpu_slots: Annotated[int, typer.Option(help="CPU jobs run at once")] = 1,
    once: Annotated[bool, typer.Option("--once", help="Exit when the queue is empty")] = False,
    home: Home = None,
    json: Json = False,
):
    """Run queued jobs headless (outlives the SSH session under nohup or tmux)."""
    import threading

    from lmctui.jobs.queue import JobQueue
    from lmctui.jobs.worker import DevicePolicy, Worker
    from lmctui.service.jobs import execute

    if cpu_slots < 1:
        raise UserError(f"--cpu-slots must be at least 1, got {cpu_slots}")
    registry = _registry(home)
    policy = DevicePolicy(cpu_slots=cpu_slots, cuda_available=_cuda_devices)
    queue = JobQueue(registry)
    workers = [Worker(queue, lambda job, stop, progress: execute(registry, job, stop, progress), policy,
                      f"cli-{i}") for i in range(cpu_slots)]
    stop = threading.Event()
    _sigterm_as_interrupt()
    threads = [threading.Thread(target=w.run_until, args=(stop, once), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    message(f"worker: {cpu_slots} CPU slot(s), home {registry.home}; Ctrl-C stops")
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        for w in workers:
            w.stopping.set()
        for thread in threads:
            thread.join()
        raise
    jobs = queue.jobs()
    emit_json({"jobs": jobs}) if json else message(f"worker: queue empty ({len(jobs)} jobs in the registry)")


def _cuda_devices() -> list[str]:
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


@app.command()
@command
def jobs(
    cancel: Annotated[Optional[str], typer.Option(help="Cancel this job (id or prefix)")] = None,
    requeue: Annotated[Optional[str], typer.Option(help="Re-queue this failed/cancelled/interrupted job")] = None,
    home: Home = None,
    json: Json = False,
):
    """List the job queue; cancel or re-queue a job."""
    from lmctui.jobs.queue import JobQueue

    queue = JobQueue(_registry(home))
    if cancel:
        queue.cancel(cancel)
    if requeue:
        queue.requeue(requeue)
    listed = queue.jobs()
    if json:
        emit_json({"jobs": listed})
    else:
        print_table(listed, ["id", "kind", "title", "status", "progress", "device_used", "message", "error"])


def _render_runs(runs: list[dict], as_json: bool) -> None:
    if as_json:
        emit_json({"runs": runs})
    else:
        print_table(runs, TABLE_COLUMNS)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
