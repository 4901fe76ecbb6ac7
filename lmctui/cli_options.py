"""The CLI's shared options: their types and help, each default read from where it is stated once.

A command names its options with these `Annotated` types; `placement_options` gives a
working command `--executor`, `--queue`-free Slurm options and `--no-wait`, and hands it
the options as one `PlacementChoice`. Defaults come from `lmctui.configs`, the request
types and the method registry, never from a literal here.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from lmctui.choices import ARCHS, DATASETS, DEFAULT_LR, NORMS, OPTIMIZERS
from lmctui.configs import DEFAULT_RESTARTS, ModelConfig, STEOptions
from lmctui.errors import FieldError
from lmctui.service.methods import align_methods, average_methods, curve_methods

# A string, not a Path: typer turns an empty --home into Path("."), the current folder, silently.
Home = Annotated[Optional[str], typer.Option("--home", help="Registry folder (else $LMCTUI_HOME, else ./lmc-runs).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Device = Annotated[str, typer.Option(help="auto|cpu|cuda[:N]")]
MatchSeed = Annotated[int, typer.Option("--seed", help="Seed of weight matching's visiting order (restart i uses "
                                                       "seed + i) and of STE matching's batch order")]
Out = Annotated[Path, typer.Option("--out", help="CSV file to write")]
Dataset = Annotated[str, typer.Option(help=", ".join(DATASETS) + ", or your own: npz:PATH, folder:PATH")]
ArchDataset = Annotated[Optional[str], typer.Option(
    "--dataset", help=", ".join(DATASETS) + ", or your own: npz:PATH, folder:PATH [default: moons; digits for "
                      "--arch vit, modadd for --arch gpt]")]
Arch = Annotated[str, typer.Option(help=", ".join(ARCHS) + ", or your own: MODULE:FACTORY or PATH/TO/FILE.py:FACTORY")]
ArchArgs = Annotated[Optional[list[str]], typer.Option(
    "--arch-arg", help="KEY=VALUE for your own model's factory (repeatable; VALUE as JSON where it parses)")]
ImageSize = Annotated[Optional[int], typer.Option(help="folder: data: resize every image to this square size")]
Width = Annotated[Optional[int], typer.Option(
    help=f"MLP hidden units, or CNN width multiplier [{ModelConfig.width}]; your own model: passed as width= if given")]
Depth = Annotated[int, typer.Option(help="MLP hidden layers, or transformer blocks")]
Heads = Annotated[int, typer.Option(help="Transformers: attention heads (must divide 32 x width)")]
Patch = Annotated[Optional[int], typer.Option(help="ViT: patch side in pixels (default: the image side / 4)")]
TrainFraction = Annotated[float, typer.Option(help="modadd: share of the pairs trained on (0.3-0.9)")]
Modulus = Annotated[int, typer.Option(help="modadd: p, the labels are (a + b) mod p")]
Norm = Annotated[str, typer.Option(help="CNN norm: " + ", ".join(NORMS))]
Epochs = Annotated[int, typer.Option()]
Optimizer = Annotated[str, typer.Option(help=", ".join(OPTIMIZERS))]
LearningRate = Annotated[Optional[float], typer.Option(
    help="Learning rate (default: " + ", ".join(f"{lr:g} for {name}" for name, lr in DEFAULT_LR.items()) + ")")]
BatchSize = Annotated[int, typer.Option()]
AlignMethod = Annotated[str, typer.Option(help=", ".join(align_methods()))]
AverageMethod = Annotated[str, typer.Option(help=", ".join(average_methods()))]
CurveMethods = Annotated[str, typer.Option(help="Comma list of " + ",".join(curve_methods()))]
Restarts = Annotated[Optional[int], typer.Option(
    help="Weight matching: visiting orders tried, the best objective kept, every one recorded [by arch: "
         + ", ".join(f"{n} for {arch}" for arch, n in DEFAULT_RESTARTS.items()) + "]")]
SteSteps = Annotated[Optional[int], typer.Option("--ste-steps", help=f"STE matching: Adam steps [{STEOptions.steps}]")]
SteBatch = Annotated[Optional[int], typer.Option("--ste-batch", help=f"STE matching: batch size [{STEOptions.batch_size}]")]
SteLr = Annotated[Optional[float], typer.Option("--ste-lr", help=f"STE matching: Adam learning rate [{STEOptions.lr:g}]")]
Filters = Annotated[Optional[list[str]], typer.Option("--filter", help="key=value (repeatable)")]
RunsOfBasins = Annotated[list[str], typer.Argument(help="Two or more run ids; every pair needs a stored curve")]
BasinMethod = Annotated[str, typer.Option(
    help="Whose barriers: aligned (the lowest of the " + ", ".join(align_methods()) + " curves), "
         + ", ".join(curve_methods()))]
BasinMetric = Annotated[str, typer.Option(
    help="loss_barrier_test, error_barrier_test, loss_barrier_train or error_barrier_train")]
BasinLinkage = Annotated[str, typer.Option(
    help="average (the mean barrier between two groups) or complete (the largest: every pair within the threshold)")]
Threshold = Annotated[float, typer.Option(help="Groups whose linkage barrier is at most this are one basin")]

# Request fields whose flag is not --field-with-dashes.
FLAGS = {"warmup_epochs": "--warmup", "name": "--dataset", "tag": "--tag", "run_a": "RUN_A", "run_b": "RUN_B",
         "runs": "RUNS", "filter": "--filter", "sweep": "--sweep", "arch_args": "--arch-arg"}


def flag(field: str) -> str:
    """The flag (or argument) of a request field, for a refusal's wording."""
    return FLAGS.get(field, "--" + field.replace("_", "-"))


@dataclass(frozen=True)
class PlacementChoice:
    """What the user said about where the work runs; `placement` turns it into a placement."""

    executor: str = "local"
    no_wait: bool = False
    options: tuple = ()  # (name, value) of every placement option, None when not given

    def placement(self, home, queue: bool = False):
        from lmctui.service.placements import choose

        return choose(self.executor, home, queue, self.no_wait, **dict(self.options))


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
    ("signal_delay", Annotated[Optional[int], typer.Option(
        help="Seconds before the time limit that a task is warned: it keeps its state and re-queues itself "
             "[a sixth of --time, 5 to 90]")]),
]


def placement_options(func):
    """Give a command `--executor`, `--no-wait` and the cluster options; it receives them as one
    `placement: PlacementChoice` argument (which options go together is the placement's rule)."""
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
        options = tuple((n, kwargs.pop(n)) for n, _ in CLUSTER_OPTIONS)
        choice = PlacementChoice(kwargs.pop("executor"), kwargs.pop("no_wait"), options)
        return func(*args, placement=choice, **kwargs)

    wrapper.__signature__ = signature
    return wrapper


def matching(restarts: Optional[int], ste_steps: Optional[int], ste_batch: Optional[int], ste_lr: Optional[float]):
    """The `Matching` of --restarts and --ste-*; the request refuses what its methods do not read."""
    from dataclasses import replace

    from lmctui.service.requests import Matching

    ste = {"steps": ste_steps, "batch_size": ste_batch, "lr": ste_lr}
    return Matching(restarts, replace(STEOptions(), **{k: v for k, v in ste.items() if v is not None}))


def read_json(path: Path, field: str) -> dict:
    """A JSON file named on the command line: a regular file of a sane size and nesting, or refused."""
    from lmctui.bounded_files import read_json_file
    from lmctui.errors import UserError

    try:
        found = read_json_file(path, "file")
    except UserError as err:
        raise FieldError(field, str(err)) from None
    if not isinstance(found, dict):
        raise FieldError(field, f"{path} must hold one JSON object")
    return found
