"""Modal forms for new work. Each builds the service's typed request and lets it validate
itself (no torch); what only the data can tell is checked when the job starts."""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from lmctui.choices import (ALIGN_METHODS, ARCHS, AVERAGE_METHODS, CURVE_METHODS, DATASETS, DEFAULT_LR, NORMS,
                            OPTIMIZERS)
from lmctui.configs import DataConfig, InterpolationOptions, ModelConfig, TrainConfig
from lmctui.errors import FieldError, UserError
from lmctui.parsing import parse_csv_words, parse_int_list
from lmctui.service.requests import AlignRequest, AverageRequest, InterpRequest, SweepRequest, TrainRequest


class Form(ModalScreen[list | None]):
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

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        try:
            requests = [request.validate() for request in self.build()]
        except FieldError as err:
            self._show_error(err.worded(self.LABELS.get(err.field, err.field.replace("_", " "))))
            return
        except UserError as err:
            self._show_error(str(err))
            return
        self.dismiss(requests)

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


def labelled(label: str, widget):
    """One form row: the label, then the field."""
    with Horizontal(classes="field"):
        yield Label(label)
        widget.compact = True
        yield widget


def select(field_id: str, options: tuple[str, ...], value: str) -> Select:
    return Select([(o, o) for o in options], value=value, allow_blank=False, id=field_id, compact=True)


class TrainForm(Form):
    TITLE_TEXT = "Train: one job per width, each training every seed"
    LABELS = {"lr": "learning rate", "dataset": "data set", "arch": "architecture", "data_dir": "data dir",
              "width": "widths"}

    def fields(self) -> ComposeResult:
        yield from labelled("data set", select("dataset", DATASETS, DataConfig.name))
        yield from labelled("architecture", select("arch", ARCHS, "mlp"))
        yield from labelled("widths", Input("16", id="widths", placeholder="e.g. 16 or 8,32,128"))
        yield from labelled("depth (MLP hidden layers)", Input(str(ModelConfig.depth), id="depth"))
        yield from labelled("norm (CNNs)", select("norm", NORMS, "none"))
        yield from labelled("seeds", Input("0-1", id="seeds", placeholder="e.g. 0,1 or 0-3"))
        yield from labelled("optimizer", select("optimizer", OPTIMIZERS, TrainConfig.optimizer))
        defaults = ", ".join(f"{lr:g} {name}" for name, lr in DEFAULT_LR.items())
        yield from labelled("learning rate", Input("", id="lr", placeholder=f"blank: {defaults}"))
        yield from labelled("epochs", Input(str(TrainConfig.epochs), id="epochs"))
        yield from labelled("data dir (MNIST, CIFAR-10)", Input("", id="data_dir"))

    def build(self) -> list[TrainRequest]:
        train = TrainConfig(optimizer=self.value("optimizer"), lr=self.optional_number("lr"),
                            epochs=self.number("epochs"))
        base = TrainRequest(DataConfig(self.value("dataset"), data_dir=self.text("data_dir") or None),
                            self.value("arch"), depth=self.number("depth"), norm=self.value("norm"), train=train,
                            seeds=tuple(parse_int_list(self.text("seeds"), "seeds")))
        return [replace(base, width=w) for w in parse_int_list(self.text("widths"), "widths")]


class PairForm(Form):
    """Interpolate (or align) the two selected runs."""

    def __init__(self, run_a: str, run_b: str, kind: str):
        super().__init__()
        self.run_a, self.run_b, self.kind = run_a, run_b, kind
        self.TITLE_TEXT = f"{'Interpolate' if kind == 'interp' else 'Align'} {run_a} -> {run_b}"

    def fields(self) -> ComposeResult:
        if self.kind == "interp":
            yield from labelled("methods", Input("naive,weight", id="methods"))
            yield from labelled("points", Input(str(InterpolationOptions.points), id="points"))
            yield from labelled("REPAIR (re-normalize units)", Checkbox("", id="repair"))
            yield from labelled("re-estimate BatchNorm stats", Checkbox("", value=True, id="reset_bn"))
        else:
            yield from labelled("method", select("method", ALIGN_METHODS, "weight"))
        yield from labelled("seed (weight-matching order)", Input("0", id="seed"))

    def build(self) -> list:
        seed = self.number("seed")
        if self.kind == "interp":
            options = InterpolationOptions(self.number("points"), self.value("reset_bn"), self.value("repair"))
            methods = parse_csv_words(self.text("methods"), CURVE_METHODS, "methods")
            return [InterpRequest(self.run_a, self.run_b, methods, options, seed)]
        return [AlignRequest(self.run_a, self.run_b, self.value("method"), seed)]


class AverageForm(Form):
    LABELS = {"reference": "reference run"}

    def __init__(self, runs: list[str]):
        super().__init__()
        self.runs = runs
        self.TITLE_TEXT = f"Average {len(runs)} runs: {', '.join(runs)}"

    def fields(self) -> ComposeResult:
        yield from labelled("method", select("method", AVERAGE_METHODS, "weight"))
        yield from labelled("reference run", Input("", id="reference", placeholder="blank: the first"))

    def build(self) -> list[AverageRequest]:
        return [AverageRequest(tuple(self.runs), self.value("method"), self.text("reference") or None)]


class SweepForm(Form):
    TITLE_TEXT = "Sweep over widths: train seeds per width, barriers of every pair"
    LABELS = {"seeds": "seeds per width", "sweep": "widths"}

    def fields(self) -> ComposeResult:
        yield from labelled("data set", select("dataset", DATASETS, DataConfig.name))
        yield from labelled("architecture", select("arch", ARCHS, "mlp"))
        yield from labelled("depth", Input(str(ModelConfig.depth), id="depth"))
        yield from labelled("widths", Input("4,16,64", id="widths"))
        yield from labelled("seeds per width (>= 2)", Input("2", id="seeds"))
        yield from labelled("epochs", Input(str(TrainConfig.epochs), id="epochs"))
        yield from labelled("methods", Input("naive,weight", id="methods"))

    def build(self) -> list[SweepRequest]:
        widths = tuple(parse_int_list(self.text("widths"), "widths"))
        seeds = self.number("seeds")
        if not 0 <= seeds <= 1024:
            raise FieldError("seeds", f"must be from 2 to 1024, got {seeds}")
        base = TrainRequest(DataConfig(self.value("dataset")), self.value("arch"), depth=self.number("depth"),
                            train=TrainConfig(epochs=self.number("epochs")), seeds=tuple(range(seeds)))
        return [SweepRequest(base, "width", widths, parse_csv_words(self.text("methods"), CURVE_METHODS, "methods"))]
