"""Modal forms for new work. Each builds the service's typed request and lets it validate
itself (no torch); what only the data can tell is checked when the job starts."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from lmctui.choices import ARCHS, DATASETS, DEFAULT_LR, NORMS, OPTIMIZERS, TRANSFORMER_ARCHS
from lmctui.configs import (DEFAULT_RESTARTS, DEFAULT_SWEEP_SEEDS, DEFAULT_SWEEP_WIDTHS, DataConfig,
                            InterpolationOptions, ModelConfig, STEOptions, TrainConfig, canonical_dataset,
                            default_dataset, default_width)
from lmctui.errors import FieldError, UserError
from lmctui.parsing import parse_csv_words, parse_int_list
from lmctui.usermodel import is_user_arch, parse_arch_args
from lmctui.service.methods import (DEFAULT_CURVE_METHODS, DEFAULT_METHOD, align_methods, average_methods,
                                    curve_methods)
from lmctui.service.placements import executors
from lmctui.service.requests import (AlignRequest, AverageRequest, InterpRequest, Matching, SweepRequest,
                                     TrainRequest, sweep_seeds)
from lmctui.service.slurm.settings import ClusterSettings, parse_time
from lmctui.tui.widgets.check_box import CheckBox

MATCHING_LABELS = {"restarts": "restarts", "ste_steps": "STE steps", "ste_lr": "STE learning rate"}


def slurm_here() -> bool:
    """Whether this machine can talk to Slurm (`sinfo` on PATH): a PATH lookup, no process."""
    return shutil.which("sinfo") is not None


@dataclass(frozen=True)
class Submission:
    """What a form hands the app: the validated requests and where they run."""

    requests: list
    executor: str = "local"
    cluster_options: dict = field(default_factory=dict)  # settings_for's overrides of HOME/cluster.json


class Form(ModalScreen["Submission | None"]):

    """Fields are (id, label, widget); `build()` returns the requests to submit or raises UserError.

    One row per field (label, then a borderless field), so a form fits 80x24; it opens
    with the first field focused, and enter submits from any text field.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Submit"),
                # priority: the form closes while enter is handled, so the next key reaches the screen below
                Binding("enter", "submit_from_field", "Submit", show=False, priority=True)]
    AUTO_FOCUS = "#form Input, #form Select"
    TITLE_TEXT = ""
    LABELS: dict[str, str] = {}  # request field -> the label its errors use

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def build(self) -> list:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form", can_focus=False):
            yield Static(f"[b]{self.TITLE_TEXT}[/]\n[dim]tab: next field, enter or ctrl+s: submit, esc: cancel[/]",
                         id="form-title")
            yield from self.fields()
            yield from self.executor_fields()
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Submit", id="submit", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def value(self, field_id: str):
        return self.query_one(f"#{field_id}").value

    def text(self, field_id: str) -> str:
        return str(self.value(field_id)).strip()

    def number(self, field_id: str, kind=int):
        try:
            return kind(self.text(field_id))
        except ValueError:
            raise FieldError(field_id, f"must be a {'whole ' if kind is int else ''}number, "
                                       f"got {self.text(field_id)!r}") from None

    def optional_number(self, field_id: str, kind=float):
        return self.number(field_id, kind) if self.text(field_id) else None

    def executor_fields(self) -> ComposeResult:
        """Where the work runs: here, or on Slurm with a time limit and partition (blank: the
        home's cluster.json); the Slurm rows show only when Slurm is chosen."""
        yield from labelled("run on", select("executor", executors(), "local"))
        time = Input("", id="slurm_time", placeholder="blank: cluster.json's; 90, 2:00:00")
        yield from labelled("slurm time limit", time, "slurm-only")
        partition = Input("", id="slurm_partition", placeholder="blank: the default")
        yield from labelled("slurm partition", partition, "slurm-only")
        if not slurm_here():
            yield Static("[yellow]no Slurm on this machine (sinfo is not on PATH): jobs run here[/]",
                         id="no-slurm", classes="slurm-only")

    @on(Select.Changed, "#executor")
    def _executor_changed(self, event: Select.Changed) -> None:
        self._show_slurm_rows(event.value == "slurm")

    def _show_slurm_rows(self, shown: bool) -> None:
        for row in self.query(".slurm-only"):
            row.display = shown

    def where(self) -> tuple[str, dict]:
        """(executor, cluster options), checked as far as can be without reading the home."""
        executor = self.value("executor")
        if executor != "slurm":
            return executor, {}
        if not slurm_here():
            raise FieldError("executor", "slurm: sinfo is not on PATH on this machine; choose local, or run "
                                         "the app on the cluster's login node")
        time, partition = self.text("slurm_time") or None, self.text("slurm_partition") or None
        if time is not None:
            parse_time(time)
        ClusterSettings(partition=partition).validate()
        return executor, {"time": time, "partition": partition}

    def matching_fields(self) -> ComposeResult:
        """How the aligning methods search: weight matching's restarts, STE's optimization."""
        restarts = ", ".join(f"{n} {arch}" for arch, n in DEFAULT_RESTARTS.items())
        yield from labelled("restarts (weight matching)", Input("", id="restarts", placeholder=f"blank: {restarts}"))
        yield from labelled("STE steps (method ste)", Input(str(STEOptions.steps), id="ste_steps"))
        yield from labelled("STE learning rate", Input(f"{STEOptions.lr:g}", id="ste_lr"))

    def matching(self) -> Matching:
        restarts = self.text("restarts")
        return Matching(self.number("restarts") if restarts else None,
                        STEOptions(steps=self.number("ste_steps"), lr=self.number("ste_lr", float)))

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        try:
            requests = [request.validate() for request in self.build()]
            executor, options = self.where()
        except FieldError as err:
            labels = {**MATCHING_LABELS, "slurm_time": "slurm time limit", "time": "slurm time limit",
                      "partition": "slurm partition", **self.LABELS}
            self._show_error(err.worded(labels.get(err.field, err.field.replace("_", " "))))
            return
        except UserError as err:
            self._show_error(str(err))
            return
        self.dismiss(Submission(requests, executor, options))

    def _show_error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(f"[b red]{text}[/]")

    def action_submit_from_field(self) -> None:
        """Enter submits from a text field; on a list, a checkbox or a button it does what it does there."""
        if not isinstance(self.focused, Input):
            raise SkipAction()
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def labelled(label: str, widget, classes: str = ""):
    """One form row: the label, then the field."""
    with Horizontal(classes=f"field {classes}".strip()):
        yield Label(label)
        widget.compact = True
        yield widget


def select(field_id: str, options: tuple[str, ...], value: str) -> Select:
    return Select([(o, o) for o in options], value=value, allow_blank=False, id=field_id, compact=True)


TRAIN_FORM_WIDTH = 16  # the form's first width: a network that trains in seconds, to look at at once


class TrainForm(Form):
    TITLE_TEXT = "Train: one job per width, each training every seed"
    LABELS = {"lr": "learning rate", "dataset": "data set", "arch": "architecture", "data_dir": "data dir",
              "width": "widths", "arch_arg": "arch args", "arch_args": "arch args"}

    def fields(self) -> ComposeResult:
        yield from labelled("data set", select("dataset", DATASETS, DataConfig.name))
        self._arch = "mlp"  # the architecture picked last: leaving a transformer resets its data set and width
        yield from labelled("architecture", select("arch", ARCHS, self._arch))
        yield from labelled("widths", Input(str(TRAIN_FORM_WIDTH), id="widths", placeholder="e.g. 16 or 8,32,128"))
        yield from labelled("depth (MLP layers, transformer blocks)", Input(str(ModelConfig.depth), id="depth"))
        yield from labelled("norm (CNNs)", select("norm", NORMS, "none"))
        yield from labelled("heads (transformers)", Input(str(ModelConfig.heads), id="heads"))
        yield from labelled("seeds", Input("0-1", id="seeds", placeholder="e.g. 0,1 or 0-3"))
        yield from labelled("optimizer", select("optimizer", OPTIMIZERS, TrainConfig.optimizer))
        defaults = ", ".join(f"{lr:g} {name}" for name, lr in DEFAULT_LR.items())
        yield from labelled("learning rate", Input("", id="lr", placeholder=f"blank: {defaults}"))
        yield from labelled("epochs", Input(str(TrainConfig.epochs), id="epochs"))
        yield from labelled("data dir (MNIST, CIFAR-10)", Input("", id="data_dir"))
        yield from labelled("your own model", Input("", id="user_arch", placeholder="MODULE:FACTORY or FILE.py:FACTORY"))
        yield from labelled("arch args", Input("", id="arch_args", placeholder="KEY=VALUE ..., e.g. groups=4"))
        yield from labelled("your own data", Input("", id="user_data", placeholder="npz:PATH or folder:PATH"))

    @on(Select.Changed, "#arch")
    def arch_changed(self, event: Select.Changed) -> None:
        """To or from a transformer: a data set it can read (leaving one: digits, which the MLP and the
        CNNs all read) and its width (a ViT of width 16 would be 512 wide)."""
        arch, before = str(event.value), self._arch
        self._arch = arch
        if arch in TRANSFORMER_ARCHS or before in TRANSFORMER_ARCHS:
            self.query_one("#dataset", Select).value = default_dataset(arch) if arch in TRANSFORMER_ARCHS else "digits"
            self.query_one("#widths", Input).value = str(default_width(arch) if arch in TRANSFORMER_ARCHS
                                                         else TRAIN_FORM_WIDTH)

    def build(self) -> list[TrainRequest]:
        train = TrainConfig(optimizer=self.value("optimizer"), lr=self.optional_number("lr"),
                            epochs=self.number("epochs"))
        arch = self.text("user_arch") or self.value("arch")
        dataset = canonical_dataset(self.text("user_data")) if self.text("user_data") else self.value("dataset")
        base = TrainRequest(DataConfig(dataset, data_dir=self.text("data_dir") or None), arch,
                            depth=self.number("depth"), norm=self.value("norm"), train=train,
                            seeds=tuple(parse_int_list(self.text("seeds"), "seeds")),
                            arch_args=parse_arch_args(self.text("arch_args").split()), heads=self.number("heads"))
        if is_user_arch(arch) and not self.text("widths"):
            return [replace(base, width=None)]  # the factory's own width
        return [replace(base, width=w) for w in parse_int_list(self.text("widths"), "widths")]


class PairForm(Form):
    """Interpolate (or align) the two selected runs."""

    def __init__(self, run_a: str, run_b: str, kind: str):
        super().__init__()
        self.run_a, self.run_b, self.kind = run_a, run_b, kind
        self.TITLE_TEXT = f"{'Interpolate' if kind == 'interp' else 'Align'} {run_a} -> {run_b}"

    def fields(self) -> ComposeResult:
        if self.kind == "interp":
            yield from labelled("methods", Input(",".join(DEFAULT_CURVE_METHODS), id="methods",
                                                 placeholder=", ".join(curve_methods())))
            yield from labelled("points", Input(str(InterpolationOptions.points), id="points"))
            yield from labelled("REPAIR (re-normalize units)", CheckBox("", id="repair"))
            yield from labelled("re-estimate BatchNorm stats", CheckBox("", value=True, id="reset_bn"))
        else:
            yield from labelled("method", select("method", align_methods(), DEFAULT_METHOD))
        yield from labelled("seed (matching order)", Input("0", id="seed"))
        yield from self.matching_fields()

    def build(self) -> list:
        seed = self.number("seed")
        if self.kind == "interp":
            reset_bn = None if self.value("reset_bn") else False  # checked: where the net has BatchNorm
            options = InterpolationOptions(self.number("points"), reset_bn, self.value("repair"))
            methods = parse_csv_words(self.text("methods"), curve_methods(), "methods")
            return [InterpRequest(self.run_a, self.run_b, methods, options, seed, matching=self.matching())]
        return [AlignRequest(self.run_a, self.run_b, self.value("method"), seed, matching=self.matching())]


class AverageForm(Form):
    LABELS = {"reference": "reference run"}

    def __init__(self, runs: list[str]):
        super().__init__()
        self.runs = runs
        self.TITLE_TEXT = f"Average {len(runs)} runs: {', '.join(runs)}"

    def fields(self) -> ComposeResult:
        yield from labelled("method", select("method", average_methods(), DEFAULT_METHOD))
        yield from labelled("reference run", Input("", id="reference", placeholder="blank: the first"))
        yield from self.matching_fields()

    def build(self) -> list[AverageRequest]:
        return [AverageRequest(tuple(self.runs), self.value("method"), self.text("reference") or None,
                               matching=self.matching())]


class SweepForm(Form):
    TITLE_TEXT = "Sweep over widths: train seeds per width, barriers of every pair"
    LABELS = {"seeds": "seeds per width", "sweep": "widths"}

    def fields(self) -> ComposeResult:
        yield from labelled("data set", select("dataset", DATASETS, DataConfig.name))
        yield from labelled("architecture", select("arch", ARCHS, "mlp"))
        yield from labelled("depth", Input(str(ModelConfig.depth), id="depth"))
        yield from labelled("widths", Input(",".join(map(str, DEFAULT_SWEEP_WIDTHS)), id="widths"))
        yield from labelled("seeds per width (>= 2)", Input(str(DEFAULT_SWEEP_SEEDS), id="seeds"))
        yield from labelled("epochs", Input(str(TrainConfig.epochs), id="epochs"))
        yield from labelled("methods", Input(",".join(DEFAULT_CURVE_METHODS), id="methods",
                                             placeholder=", ".join(curve_methods())))
        yield from self.matching_fields()

    def build(self) -> list[SweepRequest]:
        widths = tuple(parse_int_list(self.text("widths"), "widths"))
        base = TrainRequest(DataConfig(self.value("dataset")), self.value("arch"), depth=self.number("depth"),
                            train=TrainConfig(epochs=self.number("epochs")), seeds=sweep_seeds(self.number("seeds")))
        methods = parse_csv_words(self.text("methods"), curve_methods(), "methods")
        return [SweepRequest(base, "width", widths, methods, matching=self.matching())]
