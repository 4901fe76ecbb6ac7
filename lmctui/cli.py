"""`lmctui-cli`: the scripting interface. Each command parses, builds a request, calls the service, renders.

Only the service and presentation modules are imported here, and torch only inside
the service calls that do work, so `--help` and every refusal of bad input answer at
once. Exit codes: 0 success, 2 bad input (one line on stderr), 1 failure while working, 130 / 143
stopped by Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from lmctui.choices import (ALIGN_METHODS, ARCHS, AVERAGE_METHODS, CURVE_METHODS, DATASETS, DEFAULT_LR, NORMS,
                            OPTIMIZERS)
from lmctui.cli_output import StepProgress, TrainProgress, emit_json, message, print_table, table_fits
from lmctui.configs import DEFAULT_RESTARTS, DataConfig, InterpolationOptions, ModelConfig, STEOptions, TrainConfig
from lmctui.errors import FieldError, UserError, WorkFailed
from lmctui.parsing import parse_csv_words, parse_filter, parse_int_list
from lmctui.records import RUN_FIELDS

app = typer.Typer(help="lmctui: train, align, interpolate and average networks from scripts.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None)
export_app = typer.Typer(help="Write a table as CSV.", no_args_is_help=True)
app.add_typer(export_app, name="export")
cluster_app = typer.Typer(help="The Slurm cluster: is it usable from here?", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")

Home = Annotated[Optional[Path], typer.Option("--home", help="Registry folder (else $LMCTUI_HOME, else ./lmc-runs).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Device = Annotated[str, typer.Option(help="auto|cpu|cuda[:N]")]
MatchSeed = Annotated[int, typer.Option("--seed", help="Seed of weight matching's visiting order (restart i uses "
                                                       "seed + i) and of STE matching's batch order")]
Out = Annotated[Path, typer.Option("--out", help="CSV file to write")]
Dataset = Annotated[str, typer.Option(help=", ".join(DATASETS))]
Arch = Annotated[str, typer.Option(help=", ".join(ARCHS))]
Depth = Annotated[int, typer.Option(help="MLP hidden layers")]
Norm = Annotated[str, typer.Option(help="CNN norm: " + ", ".join(NORMS))]
Epochs = Annotated[int, typer.Option()]
Optimizer = Annotated[str, typer.Option(help=", ".join(OPTIMIZERS))]
LearningRate = Annotated[Optional[float], typer.Option(
    help="Learning rate (default: " + ", ".join(f"{lr:g} for {name}" for name, lr in DEFAULT_LR.items()) + ")")]
BatchSize = Annotated[int, typer.Option()]
Restarts = Annotated[Optional[int], typer.Option(
    help="Weight matching: visiting orders tried, the best objective kept, every one recorded [by arch: "
         + ", ".join(f"{n} for {arch}" for arch, n in DEFAULT_RESTARTS.items()) + "]")]
SteSteps = Annotated[Optional[int], typer.Option("--ste-steps", help=f"STE matching: Adam steps [{STEOptions.steps}]")]
SteBatch = Annotated[Optional[int], typer.Option("--ste-batch", help=f"STE matching: batch size [{STEOptions.batch_size}]")]
SteLr = Annotated[Optional[float], typer.Option("--ste-lr", help=f"STE matching: Adam learning rate [{STEOptions.lr:g}]")]
RESTART_METHODS = ("weight", "universe")  # the methods that weight-match with restarts
# Request fields whose flag is not --field-with-dashes.
FLAGS = {"warmup_epochs": "--warmup", "name": "--dataset", "tag": "--tag", "run_a": "RUN_A", "run_b": "RUN_B",
         "runs": "RUNS", "filter": "--filter", "sweep": "--sweep"}


@dataclass(frozen=True)
class Placement:
    """Where a command's work runs: here (`local`) or on Slurm, with the cluster options given."""

    executor: str = "local"
    no_wait: bool = False
    options: tuple = ()  # (name, value) of the cluster options given (value not None)

    def settings(self, home):
        from lmctui.service.cluster import settings_for

        return settings_for(home, **dict(self.options))


# The cluster options every working command takes (docs/cluster.md); None: HOME/cluster.json, else the default.
CLUSTER_OPTIONS = [
    ("partition", Annotated[Optional[str], typer.Option(help="Slurm partition [cluster.json, else the cluster's default]")]),
    ("time", Annotated[Optional[str], typer.Option(help="Time limit per task: minutes or [D-]HH:MM:SS [60]")]),
    ("gpus_per_task", Annotated[Optional[int], typer.Option(help="GPUs per Slurm task [0]")]),
    ("cpus_per_task", Annotated[Optional[int], typer.Option(help="CPUs per Slurm task (torch's threads) [1]")]),
    ("mem", Annotated[Optional[str], typer.Option(help="Memory per Slurm task, e.g. 4G [the partition's default]")]),
    ("account", Annotated[Optional[str], typer.Option(help="Slurm account")]),
    ("qos", Annotated[Optional[str], typer.Option(help="Slurm quality of service")]),
    ("slurm_option", Annotated[Optional[list[str]], typer.Option(help="Any other sbatch option as KEY=VALUE (repeatable)")]),
    ("array_parallelism", Annotated[Optional[int], typer.Option(help="Array tasks running at once [64]")]),
]


def cluster_options(func):
    """Give a command `--executor local|slurm`, `--no-wait` and the cluster options; it receives them as
    one `placement: Placement` argument. Cluster options without `--executor slurm` are refused."""
    own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "placement"]
    at = next(i for i, p in enumerate(own) if p.name == "home")
    keyword = inspect.Parameter.KEYWORD_ONLY
    added = [inspect.Parameter("executor", keyword, default="local", annotation=Annotated[str, typer.Option(
                 help="Where the work runs: local (here, now) or slurm (the cluster: docs/cluster.md)")]),
             inspect.Parameter("no_wait", keyword, default=False, annotation=Annotated[bool, typer.Option(
                 "--no-wait", help="With --executor slurm: print the submitted jobs and return")])]
    added += [inspect.Parameter(name, keyword, default=None, annotation=kind) for name, kind in CLUSTER_OPTIONS]
    parameters = [p.replace(kind=keyword) for p in own[at:]]
    # evaluated annotations: typer reads a __signature__ as it is, and this module's are strings
    signature = inspect.signature(func, eval_str=True).replace(parameters=own[:at] + added + parameters)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from lmctui.service.cluster import check_executor

        executor, no_wait = check_executor(kwargs.pop("executor")), kwargs.pop("no_wait")
        options = tuple((n, kwargs.pop(n)) for n, _ in CLUSTER_OPTIONS)
        given = [n for n, v in options if v is not None] + (["no_wait"] if no_wait else [])
        if executor == "local" and given:
            raise FieldError(given[0], "needs --executor slurm")
        if executor == "slurm" and kwargs.get("queue"):
            raise UserError("--queue and --executor slurm exclude each other: Slurm keeps its own queue")
        placement = Placement(executor, no_wait, tuple((n, v) for n, v in options if v is not None))
        return func(*args, placement=placement, **kwargs)

    wrapper.__signature__ = signature
    return wrapper


def flag(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def _matching(methods: tuple[str, ...], methods_flag: str, restarts: Optional[int], ste_steps: Optional[int],
              ste_batch: Optional[int], ste_lr: Optional[float], restart_methods: tuple[str, ...] = ("weight",)):
    """The `Matching` of --restarts and --ste-*: refused when no method given uses them (a flag
    that changes nothing is a mistake worth saying), and out of bounds (by the request's validate)."""
    from dataclasses import replace

    from lmctui.service.requests import Matching

    ste = {"steps": ste_steps, "batch_size": ste_batch, "lr": ste_lr}
    given = [name for name, value in zip(("ste_steps", "ste_batch", "ste_lr"), ste.values()) if value is not None]
    if given and "ste" not in methods:
        raise FieldError(given[0], f"applies to STE matching only ({methods_flag} ste), not to {', '.join(methods)}")
    if restarts is not None and not set(methods) & set(restart_methods):
        raise FieldError("restarts", f"applies to weight matching only ({methods_flag} {' or '.join(restart_methods)}),"
                                     f" not to {', '.join(methods)}")
    return Matching(restarts, replace(STEOptions(), **{k: v for k, v in ste.items() if v is not None}))


def command(func):
    """Turn errors into exit codes and one-line messages instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FieldError as err:
            fail(2, f"error: {err.worded(flag(err.field))}")
        except UserError as err:
            fail(2, f"error: {err}")
        except KeyboardInterrupt as err:
            fail(stopped_code(err), "interrupted" if stopped_code(err) == 130 else "terminated (SIGTERM)")
        except WorkFailed as err:
            fail(1, f"failed: {err}")
        except typer.Exit:
            raise
        except Exception as err:  # the last line of defence: no traceback for the user
            fail(1, f"failed: {type(err).__name__}: {err}")

    return wrapper


def fail(code: int, text: str):
    message(" ".join(str(text).split()))  # one line, always
    raise typer.Exit(code)


def _registry(home):
    from lmctui.service.catalog import open_registry

    return open_registry(home)


class Terminated(KeyboardInterrupt):
    """SIGTERM in the foreground: it unwinds the work like Ctrl-C (so runs are marked interrupted),
    and the command exits 143 (128 + SIGTERM) like the worker does, not Ctrl-C's 130."""


def stopped_code(err: KeyboardInterrupt) -> int:
    """The exit status of a command stopped by a signal: 128 + its number."""
    return 128 + (signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT)


def _signals_interrupt() -> None:
    """Ctrl-C and a kill (SIGTERM) unwind the work, so the run is marked interrupted.

    SIGINT is set explicitly: a process started in the background inherits it ignored.
    """
    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


@app.command()
@command
@cluster_options
def train(
    dataset: Dataset = DataConfig.name,
    arch: Arch = "mlp",
    width: Annotated[int, typer.Option(help="MLP hidden units, or CNN width multiplier")] = ModelConfig.width,
    depth: Depth = ModelConfig.depth,
    norm: Norm = "none",
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
    device: Device = "auto",
    vectorize: Annotated[bool, typer.Option("--vectorize/--no-vectorize", help="Train the seeds together in one vectorized computation")] = True,
    tag: Annotated[Optional[list[str]], typer.Option(help="Tag the runs (repeatable)")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job for `lmctui-cli worker` or the app instead of training now")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="Train again the run this config.json describes (the data, model and training options above are then ignored)")] = None,
    home: Home = None,
    json: Json = False,
    placement: Placement = Placement(),
):
    """Train one network per seed into the registry."""
    from lmctui.service.requests import TrainRequest

    if config is not None:
        request = TrainRequest.from_config(_read_json(config, "config"), device, tuple(tag or ()))
        return _train(request, queue, home, json, placement)
    train_config = TrainConfig(
        optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, batch_size=batch_size,
        epochs=epochs, warmup_epochs=warmup, schedule=schedule,
        save_epochs=tuple(parse_int_list(save_epochs, "save_epochs")) if save_epochs is not None else ())
    request = TrainRequest(
        data=DataConfig(dataset, n_samples, noise, data_dir, download), arch=arch, width=width, depth=depth,
        norm=norm, train=train_config, seeds=tuple(parse_int_list(seeds)), init_seed=init_seed, data_seed=data_seed,
        init_from=init_from, device=device, tags=tuple(tag or ()), vectorize=vectorize)
    _train(request, queue, home, json, placement)


def _train(request, queue: bool, home, as_json: bool, placement: Placement = Placement()) -> None:
    if queue:
        _queue(request, home, as_json)
        return
    if placement.executor == "slurm":
        made, problem = _on_cluster(request, home, as_json, placement)
        if made:
            _render_runs(made["runs"], as_json)
        if problem is not None:
            raise problem
        return
    from lmctui.service.jobs import check_submittable

    registry = _registry(home)
    check_submittable(registry, request)  # refused here, before torch is imported
    from lmctui.service.training import train_runs

    _signals_interrupt()
    progress = TrainProgress(enabled=True)
    with progress.running():
        runs = train_runs(registry, request, on_event=progress)
    _render_runs(runs, as_json)
    failed = [r for r in runs if r["status"] != "done"]
    if failed:
        raise WorkFailed("; ".join(f"run {r['id']}: {r.get('error')}" for r in failed))


def _read_json(path: Path, field: str) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise FieldError(field, f"{path}: cannot read it as JSON ({err})") from None


def _queue(request, home, as_json: bool) -> None:
    from lmctui.service.jobs import Jobs

    job = Jobs(_registry(home)).submit(request)
    emit_json({"job": job}) if as_json else message(f"queued job {job['id']}: {job['title']}")


def _on_cluster(request, home, as_json: bool, placement: Placement):
    """Submit `request` to Slurm; unless --no-wait, wait for its jobs. Returns (what they made, in the
    shapes a local run gives, or None; the failure of the jobs that did not finish, or None)."""
    from lmctui.service.cluster_results import failures, results
    from lmctui.service.jobs import Jobs

    registry = _registry(home)
    jobs = Jobs(registry)
    docs = jobs.submit_to_cluster(request, placement.settings(registry.home))
    message("submitted to Slurm: " + ", ".join(f"job {d['id']} (Slurm {d['slurm_job_id']})" for d in docs))
    if placement.no_wait:
        if as_json:
            emit_json({"jobs": docs})
        return None, None
    _signals_interrupt()
    try:
        docs = jobs.wait_for_cluster([d["id"] for d in docs], on_tick=_ClusterTicker())
    except KeyboardInterrupt as err:
        message("stopped waiting; the jobs go on on the cluster (lmctui-cli jobs shows them, --cancel stops them)")
        raise typer.Exit(stopped_code(err))
    return results(registry, docs) or None, failures(docs)


def _cluster_result(request, home, as_json: bool, placement: Placement):
    """What the Slurm jobs of `request` made (None with --no-wait); their failure raised."""
    made, problem = _on_cluster(request, home, as_json, placement)
    if problem is not None:
        raise problem
    return made


class _ClusterTicker:
    """Says on stderr what changed in a submission's jobs while the CLI waits for them."""

    def __init__(self):
        self.last: dict[str, str] = {}

    def __call__(self, docs: list[dict]) -> None:
        for doc in docs:
            line = f"{doc.get('slurm_state') or doc['status']} {doc.get('message') or ''}".strip()
            if self.last.get(doc["id"]) != line:
                self.last[doc["id"]] = line
                message(f"[{doc.get('progress') or 0:4.0%}] job {doc['id']} (Slurm {doc.get('slurm_job_id')}): {line}")


@app.command("list")
@command
def list_(
    what: Annotated[str, typer.Argument(help="runs, curves, alignments, averages or sweeps")] = "runs",
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="key=value (repeatable)")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="Only runs with this tag (repeatable)")] = None,
    columns: Annotated[Optional[str], typer.Option(help="Comma list of the fields to show as columns")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the newest N rows (a table shows 50 by default; 0: all)")] = None,
    home: Home = None,
    json: Json = False,
):
    """List the runs (or curves, alignments, averages, sweeps) in the registry."""
    from lmctui.records import LISTINGS
    from lmctui.service.catalog import list_table

    if limit is not None and not 0 <= limit <= 10**9:
        raise FieldError("limit", f"must be from 0 to 1000000000, got {limit}")
    listing = LISTINGS.get(what)
    shown = parse_csv_words(columns, listing.fields, "columns") if columns and listing else None
    rows = list_table(_registry(home), what, [parse_filter(f) for f in filter or []], tag or [])
    total = len(rows)
    if limit is None and not json:
        limit = TABLE_PAGE
    rows = rows[-limit:] if limit else rows
    if json:
        emit_json({what: rows})
        return
    if not rows:
        message(f"no {what}{' match' if filter or tag else ' yet'}")
        return
    print_table(rows, list(shown or listing.columns), drop=() if shown else listing.drop, wrap=("error",))
    if len(rows) < total:
        message(f"(the newest {len(rows)} of {total} {what}; --limit 0 shows all)")


TABLE_PAGE = 50  # rows a terminal table shows unless --limit says otherwise


@app.command()
@command
def show(run: Annotated[str, typer.Argument(help="Run or alignment id, or a unique prefix (runs are looked up first)")],
         home: Home = None, json: Json = False):
    """Show one run (its record, config and per-epoch metrics) or one alignment (every restart's objective)."""
    from lmctui.service.catalog import show_entry
    from lmctui.service.cluster_results import job_of_run

    registry = _registry(home)
    what, shown = show_entry(registry, run)
    if what == "alignment":
        emit_json(shown) if json else _show_alignment(shown)
        return
    job = job_of_run(registry, registry.get("runs", shown["run"]["id"]))
    if job is not None:
        shown["job"] = job
    if json:
        emit_json(shown)
        return
    print_table([{"field": k, "value": shown["run"][k]} for k in RUN_FIELDS], ["field", "value"],
                f"run {shown['run']['id']}")
    config = shown.get("config") or {}
    print_table([{"part": part, "field": k, "value": v} for part in ("data", "model", "train")
                 for k, v in (config.get(part) or {}).items()], ["part", "field", "value"], "config")
    print_table([{"file": f, "state": s} for f, s in shown["files"].items()], ["file", "state"], "weight files")
    print_table(shown["metrics"], ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"], "metrics")
    if job is not None:
        print_table([{"field": k, "value": v} for k, v in job.items()], ["field", "value"], "Slurm job")
    damaged = [f for f, s in shown["files"].items() if s != "ok"]
    if damaged:
        message(f"warning: {', '.join(damaged)} of run {shown['run']['id']}: {shown['files'][damaged[0]]}")


def _show_alignment(shown: dict) -> None:
    """An alignment's fields, its restarts (objective, gap to the best, which was kept) and its permutation."""
    record = shown["alignment"]
    fields = [{"field": k, "value": v} for k, v in record.items() if v is not None and not isinstance(v, (list, dict))]
    fields += [{"field": f"ste {k}", "value": v} for k, v in (record.get("ste") or {}).items()]
    print_table(fields, ["field", "value"], f"alignment {record['id']}")
    objectives = record.get("restart_objectives") or []
    if objectives:
        best = max(objectives)
        rows = [{"restart": i, "seed": (record.get("seed") or 0) + i, "objective": o, "below_best": best - o,
                 "kept": "yes" if i == record.get("best_restart") else ""} for i, o in enumerate(objectives)]
        print_table(rows, ["restart", "seed", "objective", "below_best", "kept"],
                    f"{len(objectives)} restart(s): objectives {min(objectives):.6g} to {best:.6g}, "
                    f"spread {best - min(objectives):.3g}")
    permutation = shown.get("permutation")
    if permutation:
        print_table([{"group": group, "units": len(p), "moved": sum(int(u != i) for i, u in enumerate(p))}
                     for group, p in permutation.items()], ["group", "units", "moved"], "permutation applied to B")


@app.command()
@command
def rm(run: Annotated[str, typer.Argument(help="Run id or unique prefix")], home: Home = None, json: Json = False):
    """Remove a run and its files."""
    from lmctui.service.catalog import remove_run

    removed = remove_run(_registry(home), run)
    emit_json({"removed": removed}) if json else message(f"removed run {removed['id']}")
    if removed["children"] and not json:
        message(f"note: runs {', '.join(removed['children'])} were made from it; they stay, naming a parent "
                "that is gone")


@export_app.command("runs")
@command
def export_runs(
    out: Out,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="key=value (repeatable)")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="Only runs with this tag")] = None,
    home: Home = None,
    json: Json = False,
):
    """Write the runs table as CSV."""
    from lmctui.service.catalog import export_runs as export

    result = export(_registry(home), out, [parse_filter(f) for f in filter or []], tag or [])
    emit_json(result) if json else message(f"wrote {result['rows']} runs to {result['path']}")


@export_app.command("alignments")
@command
def export_alignments(
    out: Out,
    filter: Annotated[Optional[list[str]], typer.Option("--filter", help="key=value (repeatable)")] = None,
    home: Home = None,
    json: Json = False,
):
    """Write the alignments as CSV: every restart's objective (';'-joined), the one kept and their spread."""
    from lmctui.service.catalog import export_alignments as export

    result = export(_registry(home), out, [parse_filter(f) for f in filter or []])
    emit_json(result) if json else message(f"wrote {result['rows']} alignments to {result['path']}")


@app.command()
@command
@cluster_options
def align(
    run_a: Annotated[str, typer.Argument(help="Reference run (A)")],
    run_b: Annotated[str, typer.Argument(help="Run to permute (B)")],
    method: Annotated[str, typer.Option(help=", ".join(ALIGN_METHODS))] = "weight",
    seed: MatchSeed = 0,
    restarts: Restarts = None,
    ste_steps: SteSteps = None,
    ste_batch: SteBatch = None,
    ste_lr: SteLr = None,
    device: Device = "auto",
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job instead of aligning now")] = False,
    home: Home = None,
    json: Json = False,
    placement: Placement = Placement(),
):
    """Permute B's hidden units to match A; register the permuted B as a new run."""
    from lmctui.service.requests import AlignRequest

    matching = _matching((method,), "--method", restarts, ste_steps, ste_batch, ste_lr)
    progress = StepProgress()
    with progress.running():
        alignment = _run_or_queue(AlignRequest(run_a, run_b, method, seed, device, matching), queue, home, json,
                                  "align", placement, on_step=progress.steps("STE matching"))
    if alignment is None:
        return
    if json:
        emit_json({"alignment": alignment})
        return
    columns = (*ALIGN_PAIR_COLUMNS, *ALIGN_COLUMNS[method], ("seconds", "seconds"), ("reused", "reused"))
    print_table([{label: alignment.get(key) for key, label in columns}], [label for _, label in columns],
                ALIGN_TITLES[method].format(**alignment), drop=("seconds", "iterations", "reused"))
    objectives = alignment.get("restart_objectives") or []
    if len(objectives) > 1:
        message(f"objectives of the {len(objectives)} restarts: {min(objectives):.6g} to {max(objectives):.6g} "
                f"(spread {max(objectives) - min(objectives):.3g}); kept restart {alignment.get('best_restart')}")


# align's table, (field, short label) as INTERP_COLUMNS, so that every method's fits 80 columns: the pair, then
# what each method's record says of its search (its title says what the labels mean), then the time taken.
ALIGN_PAIR_COLUMNS = (("id", "id"), ("run_a", "A"), ("run_b", "B"), ("method", "method"), ("aligned_run", "aligned"))
ALIGN_COLUMNS = {"weight": (("iterations", "iterations"), ("objective", "objective"), ("restarts", "restarts"),
                            ("best_restart", "kept")),
                 "activation": (("iterations", "iterations"),),
                 "ste": (("midpoint_loss", "midpoint"), ("identity_loss", "identity"), ("best_step", "step"))}
ALIGN_TITLES = {"weight": "{run_b} permuted to match {run_a}: weight matching's objective <A, P(B)> and the "
                          "restart kept",
                "activation": "{run_b} permuted to match {run_a} by activation matching",
                "ste": "{run_b} permuted to match {run_a}: midpoint loss with the permutation kept, with none "
                       "(identity), and the step that found it (-1: the identity)"}


def _run_or_queue(request, queue: bool, home, as_json: bool, use_case: str, placement: Placement = Placement(),
                  **progress):
    """Queue `request`, or run the science use case of that name on it now (torch arrives only then),
    with the `progress` callbacks it takes, or on Slurm (None with --no-wait)."""
    if queue:
        _queue(request, home, as_json)
        return None
    if placement.executor == "slurm":
        made = _cluster_result(request, home, as_json, placement)
        return made and made[{"align": "alignment", "interp": "curves", "average": "average"}[use_case]]
    registry = _ready(home, request)
    from lmctui.service import science

    return getattr(science, use_case)(registry, request, **progress)


def _ready(home, request):
    """The registry, once `request` has passed every check that needs no torch."""
    from lmctui.service.jobs import check_submittable

    registry = _registry(home)
    check_submittable(registry, request)
    _signals_interrupt()
    return registry


@app.command()
@command
@cluster_options
def interp(
    run_a: Annotated[str, typer.Argument(help="Run A (alpha = 0)")],
    run_b: Annotated[str, typer.Argument(help="Run B (alpha = 1)")],
    methods: Annotated[str, typer.Option(help="Comma list of " + ",".join(CURVE_METHODS))] = "naive,weight",
    points: Annotated[int, typer.Option(help="Alphas on the grid, ends included")] = InterpolationOptions.points,
    repair: Annotated[bool, typer.Option("--repair", help="REPAIR: rescale units to the endpoints' statistics")] = False,
    reset_bn: Annotated[bool, typer.Option("--reset-bn/--no-reset-bn", help="Re-estimate BatchNorm statistics at each alpha")] = True,
    refine: Annotated[bool, typer.Option("--refine/--no-refine", help="Refine the test barriers between grid points (golden-section search) and record the alpha of the maximum")] = InterpolationOptions.refine,
    plot: Annotated[bool, typer.Option("--plot", help="Draw the curves in the terminal")] = False,
    seed: MatchSeed = 0,
    restarts: Restarts = None,
    ste_steps: SteSteps = None,
    ste_batch: SteBatch = None,
    ste_lr: SteLr = None,
    device: Device = "auto",
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job instead of interpolating now")] = False,
    home: Home = None,
    json: Json = False,
    placement: Placement = Placement(),
):
    """Loss and accuracy along the line from A to B, naive and after alignment."""
    from lmctui.service.requests import InterpRequest

    chosen = parse_csv_words(methods, CURVE_METHODS, "methods")
    request = InterpRequest(run_a, run_b, chosen, InterpolationOptions(points, reset_bn, repair, refine), seed, device,
                            _matching(chosen, "--methods", restarts, ste_steps, ste_batch, ste_lr))
    progress = StepProgress()
    with progress.running():
        curves = _run_or_queue(request, queue, home, json, "interp", placement, on_progress=progress.points(),
                               on_step=progress.steps("STE matching"))
    if curves is None:
        return
    if json:
        emit_json({"curves": curves})
    else:
        columns = INTERP_COLUMNS if refine else [c for c in INTERP_COLUMNS if c[0] not in INTERP_REFINED]
        print_table([{label: c.get(key) for key, label in columns} for c in curves], [label for _, label in columns],
                    f"{curves[0]['run_a']} -> {curves[0]['run_b']}: test barriers on the grid, "
                    + ("refined, and the alpha of the maximum" if refine else "not refined (--no-refine)"),
                    drop=INTERP_DROP)
    if plot:
        from lmctui.plots import curves_plot

        stream = sys.stderr if json else sys.stdout  # --json keeps stdout for the document
        for metric in ("test_loss", "test_acc"):
            print(curves_plot(curves, metric, color=stream.isatty()), file=stream)


# interp's table, (field, short label) as RUN_COLUMNS: each test barrier of the grid beside its refined value and
# the alpha of the maximum (an 80-column terminal keeps the loss's), then the train barriers.
INTERP_COLUMNS = (("method", "method"), ("loss_barrier_test", "loss"), ("loss_barrier_test_refined", "loss refined"),
                  ("loss_barrier_test_alpha", "loss alpha"), ("error_barrier_test", "error"),
                  ("error_barrier_test_refined", "error refined"), ("error_barrier_test_alpha", "error alpha"),
                  ("loss_barrier_train", "loss train"), ("error_barrier_train", "error train"),
                  ("mid_acc_test", "mid acc"))
INTERP_DROP = ("error train", "loss train", "mid acc", "error alpha", "error refined")
INTERP_REFINED = ("loss_barrier_test_refined", "loss_barrier_test_alpha", "error_barrier_test_refined",
                  "error_barrier_test_alpha")


@app.command()
@command
@cluster_options
def average(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids")],
    method: Annotated[str, typer.Option(help=", ".join(AVERAGE_METHODS))] = "weight",
    reference: Annotated[Optional[str], typer.Option(help="Run to align the others to [default: the first]")] = None,
    seed: MatchSeed = 0,
    restarts: Restarts = None,
    ste_steps: SteSteps = None,
    ste_batch: SteBatch = None,
    ste_lr: SteLr = None,
    device: Device = "auto",
    queue: Annotated[bool, typer.Option("--queue", help="Queue a job instead of averaging now")] = False,
    home: Home = None,
    json: Json = False,
    placement: Placement = Placement(),
):
    """Average the weights of K runs; compare with each endpoint and the ensemble."""
    from lmctui.service.requests import AverageRequest

    matching = _matching((method,), "--method", restarts, ste_steps, ste_batch, ste_lr, RESTART_METHODS)
    progress = StepProgress()
    with progress.running():
        result = _run_or_queue(AverageRequest(tuple(runs), method, reference, seed, device, matching), queue, home,
                               json, "average", placement, on_step=progress.steps("STE matching"))
    if result is None:
        return
    if json:
        emit_json({"average": result})
        return
    rows = [{"network": f"average ({method})", "test_acc": result["test_acc"], "test_loss": result["test_loss"]},
            {"network": "ensemble", **result["ensemble"]},
            *({"network": e["id"], **e} for e in result["endpoints"])]
    reset = [c for c in ("test_acc_reset", "test_loss_reset") if any(c in e for e in result["endpoints"])]
    print_table(rows, ["network", "test_acc", "test_loss", *reset],
                f"average {result['id']} -> run {result['averaged_run']}")
    if reset:
        message("BatchNorm: the average is evaluated after its statistics are re-estimated; *_reset: the endpoints "
                "after the same reset (like with like)")


@export_app.command("barriers")
@command
def export_barriers(out: Out, home: Home = None, json: Json = False):
    """Write every stored interpolation curve's barriers as CSV."""
    from lmctui.service.catalog import export_barriers as export

    result = export(_registry(home), out)
    emit_json(result) if json else message(f"wrote {result['rows']} curves to {result['path']}")


@app.command()
@command
def consistency(
    runs: Annotated[list[str], typer.Argument(help="Three or more compatible run ids (up to 16)")],
    seed: MatchSeed = 0,
    restarts: Restarts = None,
    points: Annotated[int, typer.Option(help="Alphas per barrier, ends included")] = 11,
    device: Device = "auto",
    executor: Annotated[str, typer.Option(help="local only: consistency runs here, now (it is not a job kind)")] = "local",
    home: Home = None,
    json: Json = False,
):
    """Cycle consistency of the runs' pairwise weight matchings around every triangle, and the barrier along
    the direct, the composed, the shared-frame (C2M3-style) and the MergeMany maps."""
    from lmctui.service.requests import Matching

    if executor != "local":
        raise FieldError("executor", f"{executor} is not for consistency: it runs here, now (train, align, interp, "
                                     "average and sweep run on Slurm)" if executor == "slurm" else
                         f"must be local for consistency, got {executor!r}")
    from lmctui.service.consistency import check_consistency

    registry = _registry(home)
    matching = Matching(restarts)
    check_consistency(registry, runs, seed, matching, points, device)  # refused here, before torch is imported
    _signals_interrupt()
    from lmctui.service.consistency import consistency as measure

    found = measure(registry, runs, seed, matching, points, device,
                    on_progress=lambda f, text: message(f"[{f:4.0%}] {text}"))
    if json:
        emit_json({"consistency": found})
        return
    print_table([{"group": g, "consistent": v} for g, v in found["per_group"].items()], ["group", "consistent"],
                f"cycle consistency of {len(found['runs'])} runs: {found['overall']:.4f} of units agree around "
                f"{len(found['triangles'])} triangle(s)")
    print_table([{"runs a b c": " ".join(t["runs"]), "consistent": t["consistent"],
                  **{label: t[f"barrier_{label}"] for label in ("direct", "composed", "shared")}}
                 for t in found["triangles"]], ["runs a b c", "consistent", "direct", "composed", "shared"],
                "triangles: the test loss barrier from a to c with c mapped directly, through b (composed), "
                "through the shared frame")
    print_table([{"runs": " ".join(p["runs"]), **{label: p[f"barrier_{label}"]
                                                 for label in ("direct", "shared", "mergemany")}}
                 for p in found["pairs"]], ["runs", "direct", "shared", "mergemany"],
                "pairs: the test loss barrier along the direct map, the shared frame's and MergeMany's")
    message(f"frames of all {len(found['runs'])} runs (sum of pairwise <U_i W_i, U_j W_j>): shared "
            f"{found['shared_frame']['objective']:.6g} (from {found['shared_frame']['start_objective']:.6g}), "
            f"MergeMany {found['mergemany']['objective']:.6g}")


BasinMethod = Annotated[str, typer.Option(
    help="Whose barriers: aligned (the lowest of the weight, activation and ste curves), naive, weight, activation "
         "or ste")]
BasinMetric = Annotated[str, typer.Option(
    help="loss_barrier_test, error_barrier_test, loss_barrier_train or error_barrier_train")]
BasinLinkage = Annotated[str, typer.Option(
    help="average (the mean barrier between two groups) or complete (the largest: every pair within the threshold)")]
Threshold = Annotated[float, typer.Option(help="Groups whose linkage barrier is at most this are one basin")]


@app.command()
@command
def basins(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids; every pair needs a stored curve")],
    threshold: Threshold,
    method: BasinMethod = "aligned",
    metric: BasinMetric = "loss_barrier_test",
    linkage: BasinLinkage = "average",
    home: Home = None,
    json: Json = False,
):
    """Cluster runs into basins by their stored pairwise barriers (hierarchical clustering with a threshold)."""
    from lmctui.service.basins import basins as find

    found = find(_registry(home), runs, threshold, method, metric, linkage)
    if json:
        emit_json({"basins": found})
        return
    print_table(found["rows"], ["run", "basin", "basin_size", "within_mean", "nearest_other", "seed", "kind"],
                f"{found['count']} basin(s) at {metric} <= {threshold:g} ({method}, {linkage} linkage)",
                drop=("kind", "seed"))
    matrix = [{"run": a, **dict(zip(found["runs"], row))} for a, row in zip(found["runs"], found["matrix"])]
    if table_fits(matrix, ["run", *found["runs"]]):
        print_table(matrix, ["run", *found["runs"]], f"{metric} ({method})")
    else:
        message(f"(the {len(found['runs'])} x {len(found['runs'])} barrier matrix is wider than the terminal; "
                "--json has it)")


@export_app.command("basins")
@command
def export_basins(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids; every pair needs a stored curve")],
    out: Out,
    threshold: Threshold,
    method: BasinMethod = "aligned",
    metric: BasinMetric = "loss_barrier_test",
    linkage: BasinLinkage = "average",
    home: Home = None,
    json: Json = False,
):
    """Write the basins of the runs as CSV: one row per network with its basin."""
    from lmctui.service.catalog import export_basins as export

    result = export(_registry(home), runs, out, threshold, method, metric, linkage)
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

    from benchmarks.suite import run

    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise FieldError("out", f"{out} must be a file in an existing folder")
    results = run(quick, log=message)
    if out is not None:
        out.write_text(json_module.dumps(results, indent=2))
    if json:
        emit_json(results)


@app.command()
@command
@cluster_options
def sweep(
    dataset: Dataset = DataConfig.name,
    arch: Arch = "mlp",
    depth: Depth = ModelConfig.depth,
    norm: Norm = "none",
    widths: Annotated[str, typer.Option(help="Widths to sweep, e.g. 8,32,128")] = "8,32,128",
    width: Annotated[int, typer.Option(help="The width when --sweep names another axis")] = ModelConfig.width,
    sweep_axis: Annotated[Optional[str], typer.Option("--sweep", help="Another axis: lr=0.01,0.1 or optimizer=sgd,adam ...")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per value (>= 2)")] = 2,
    epochs: Epochs = TrainConfig.epochs,
    methods: Annotated[str, typer.Option(help="Comma list of " + ",".join(CURVE_METHODS))] = "naive,weight",
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
    placement: Placement = Placement(),
):
    """Train N seeds per value, measure every pair's barriers, average them: one table."""
    from lmctui.service.requests import SweepRequest, TrainRequest, sweep_values

    axis, values = "width", tuple(parse_int_list(widths, "widths"))
    if sweep_axis is not None:
        axis, sep, raw = sweep_axis.partition("=")
        if not sep:
            raise FieldError("sweep", f"takes axis=v1,v2, got {sweep_axis!r}")
        axis = axis.strip()
        values = sweep_values(axis, [v.strip() for v in raw.split(",") if v.strip()])
    check_count(seeds, "seeds")
    base = TrainRequest(DataConfig(dataset), arch, width, depth, norm,
                        TrainConfig(optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs),
                        seeds=tuple(range(seeds)), device=device)
    chosen = parse_csv_words(methods, CURVE_METHODS, "methods")
    request = SweepRequest(base, axis, values, chosen, points,
                           _matching(chosen, "--methods", restarts, ste_steps, ste_batch, ste_lr))
    if queue:
        return _queue(request, home, json)
    from lmctui.records import SWEEP_SUMMARY_FIELDS

    if placement.executor == "slurm":
        result = _cluster_result(request, home, json, placement)
        if result is None:
            return
    else:
        registry = _ready(home, request)
        from lmctui.service.sweeps import run_sweep

        result = run_sweep(registry, request, on_progress=lambda f, text: message(f"[{f:4.0%}] {text}"))
    if json:
        emit_json(result)
    else:
        print_table(result["summary"], list(SWEEP_SUMMARY_FIELDS), f"sweep {result['sweep']} over {axis}")
    if plot:
        from lmctui.plots import sweep_plot

        stream = sys.stderr if json else sys.stdout
        print(sweep_plot(result["summary"], axis, color=stream.isatty()), file=stream)


def check_count(value: int, field: str, most: int = 1024) -> None:
    if not 0 <= value <= most:
        raise FieldError(field, f"must be from 0 to {most}, got {value}")


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

    result = export(_registry(home), sweep_id, out, summary)
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

    jobs = Jobs(_registry(home), cpu_slots, name="cli")
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

    queue = Jobs(_registry(home))
    targets = [queue.resolve(p) for p in (cancel, requeue, log) if p is not None]  # refuse bad ids before acting
    if log is not None and not targets[-1].get("slurm_stderr"):
        raise UserError(f"job {targets[-1]['id']} ran here, not on Slurm: it has no log (its error: "
                        f"{targets[-1].get('error')})")
    if cancel is not None:
        queue.cancel(targets[0]["id"])
    if requeue is not None:
        queue.requeue(targets[1 if cancel is not None else 0]["id"])
    _refresh_cluster(queue)
    if log is not None:
        print(queue.log_tail(targets[-1]["id"]), end="")
        return
    listed = queue.list()
    if json:
        emit_json({"jobs": listed})
        return
    slurm = ["slurm_job_id", "slurm_state"] if any(j.get("executor") == "slurm" for j in listed) else []
    print_table(listed, ["id", "kind", "title", "status", *slurm, "progress", "device_used", "message", "error"],
                drop=("device_used", "kind", "progress"), wrap=("title", "message", "error"))


def _refresh_cluster(queue) -> None:
    """Fresh Slurm states for the listing; a cluster that does not answer is said, not fatal."""
    try:
        queue.refresh_cluster()
    except Exception as err:
        message(f"warning: Slurm states not refreshed ({type(err).__name__}: {' '.join(str(err).split())[:200]})")


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
    from lmctui.service.cluster_check import check_cluster

    if not 1 <= timeout <= 3600:
        raise FieldError("timeout", f"must be from 1 to 3600 seconds, got {timeout}")
    registry = _registry(home)
    settings = Placement(options=(("partition", partition),) if partition else ()).settings(registry.home)
    report = check_cluster(registry.home, settings, probe, timeout, log=message)
    if json:
        emit_json(report)
    else:
        message(f"ok: Slurm answers; partitions {', '.join(p['name'] for p in report['partitions'])}; home "
                f"{report['home']} ({report['filesystem']}) writable with working flock"
                + (f", also from node {report['probe']['node']}" if report.get("probe") else ""))


def _render_runs(runs: list[dict], as_json: bool) -> None:
    from lmctui.records import LISTINGS

    if as_json:
        emit_json({"runs": runs})
    else:
        print_table(runs, list(LISTINGS["runs"].columns), drop=LISTINGS["runs"].drop, wrap=("error",))


def main() -> None:
    """Run the CLI; usage errors (unknown option, bad type) get one line and exit 2, like every refusal.

    Typer's exception classes moved between releases (click's, then its own copy), so
    they are told apart by what they carry, not by their import path.
    """
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
