"""Modal forms for new work. Each validates what it can without torch and refuses bad
values with a message; what only the data can tell is checked when the job starts."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from lmctui.choices import (ALIGN_METHODS, ARCHS, AVERAGE_METHODS, CURVE_METHODS, DATASETS, DEFAULT_LR, NORMS,
                            OPTIMIZERS)
from lmctui.errors import UserError
from lmctui.parsing import parse_csv_words, parse_int_list


class Form(ModalScreen[dict | None]):
    """Fields are (id, label, widget); `build()` turns their values into the result or raises UserError."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Submit")]
    TITLE_TEXT = ""

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def build(self) -> dict:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static(f"[b]{self.TITLE_TEXT}[/]  (enter or ctrl+s: submit, esc: cancel)")
            yield from self.fields()
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Submit", id="submit", variant="primary")
                yield Button("Cancel", id="cancel")

    def value(self, field_id: str):
        widget = self.query_one(f"#{field_id}")
        return widget.value

    def text(self, field_id: str) -> str:
        return str(self.value(field_id)).strip()

    def number(self, field_id: str, kind=int, minimum=None, label: str | None = None):
        label = label or field_id.replace("_", " ")
        try:
            value = kind(self.text(field_id))
        except ValueError:
            raise UserError(f"{label} must be a {'whole ' if kind is int else ''}number") from None
        if minimum is not None and value < minimum:
            raise UserError(f"{label} must be at least {minimum}")
        return value

    def widths(self) -> list[int]:
        widths = parse_int_list(self.text("widths"), "widths")
        if not widths or min(widths) <= 0:
            raise UserError("widths must be positive whole numbers")
        return widths

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        try:
            result = self.build()
        except UserError as err:
            self.query_one("#form-error", Static).update(f"[b red]{err}[/]")
            return
        self.dismiss(result)

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def labelled(label: str, widget):
    yield Label(label)
    yield widget


def select(field_id: str, options: tuple[str, ...], value: str) -> Select:
    return Select([(o, o) for o in options], value=value, allow_blank=False, id=field_id)


class TrainForm(Form):
    TITLE_TEXT = "Train: one job per width, each training every seed"

    def fields(self) -> ComposeResult:
        yield from labelled("data set", select("dataset", DATASETS, "moons"))
        yield from labelled("architecture", select("arch", ARCHS, "mlp"))
        yield from labelled("widths (e.g. 16 or 8,32,128)", Input("16", id="widths"))
        yield from labelled("depth (MLP hidden layers)", Input("2", id="depth"))
        yield from labelled("norm (CNNs)", select("norm", NORMS, "none"))
        yield from labelled("seeds (e.g. 0,1 or 0-3)", Input("0-1", id="seeds"))
        yield from labelled("optimizer", select("optimizer", OPTIMIZERS, "sgd"))
        yield from labelled("learning rate (blank: 0.05 sgd, 0.001 adam)", Input("", id="lr"))
        yield from labelled("epochs", Input("20", id="epochs"))
        yield from labelled("data dir (MNIST, CIFAR-10)", Input("", id="data_dir"))

    def build(self) -> dict:
        widths = self.widths()
        seeds = parse_int_list(self.text("seeds"), "seeds")
        optimizer = self.value("optimizer")
        lr = self.number("lr", float, label="learning rate") if self.text("lr") else DEFAULT_LR[optimizer]
        if lr <= 0:
            raise UserError("learning rate must be positive")
        dataset, arch = self.value("dataset"), self.value("arch")
        if arch != "mlp" and dataset not in ("digits", "mnist", "fashion-mnist", "cifar10"):
            raise UserError(f"{arch} needs image data (digits, mnist, fashion-mnist, cifar10)")
        if dataset in ("mnist", "fashion-mnist", "cifar10") and not self.text("data_dir"):
            raise UserError(f"{dataset} needs a data dir holding its files")
        base = {"data": {"name": dataset, "data_dir": self.text("data_dir") or None}, "arch": arch,
                "depth": self.number("depth", minimum=1), "norm": self.value("norm"), "seeds": seeds,
                "train": {"optimizer": optimizer, "lr": lr, "epochs": self.number("epochs", minimum=1)}}
        return {"jobs": [{**base, "width": w} for w in widths]}


class PairForm(Form):
    """Interpolate (or align) the two selected runs."""

    def __init__(self, run_a: str, run_b: str, kind: str):
        super().__init__()
        self.run_a, self.run_b, self.kind = run_a, run_b, kind
        self.TITLE_TEXT = f"{'Interpolate' if kind == 'interp' else 'Align'} {run_a} -> {run_b}"

    def fields(self) -> ComposeResult:
        if self.kind == "interp":
            yield from labelled("methods", Input("naive,weight", id="methods"))
            yield from labelled("points", Input("25", id="points"))
            yield Checkbox("REPAIR", id="repair")
            yield Checkbox("re-estimate BatchNorm statistics", value=True, id="reset_bn")
        else:
            yield from labelled("method", select("method", ALIGN_METHODS, "weight"))
        yield from labelled("seed (weight-matching order)", Input("0", id="seed"))

    def build(self) -> dict:
        params = {"run_a": self.run_a, "run_b": self.run_b, "seed": self.number("seed", minimum=0)}
        if self.kind == "interp":
            params |= {"methods": parse_csv_words(self.text("methods"), CURVE_METHODS, "methods"),
                       "points": self.number("points", minimum=2), "repair": self.value("repair"),
                       "reset_bn": self.value("reset_bn")}
        else:
            params["method"] = self.value("method")
        return {"kind": self.kind, "params": params}


class AverageForm(Form):
    def __init__(self, runs: list[str]):
        super().__init__()
        self.runs = runs
        self.TITLE_TEXT = f"Average {len(runs)} runs: {', '.join(runs)}"

    def fields(self) -> ComposeResult:
        yield from labelled("method", select("method", AVERAGE_METHODS, "weight"))
        yield from labelled("reference run (blank: the first)", Input("", id="reference"))

    def build(self) -> dict:
        reference = self.text("reference") or None
        if reference and not any(r.startswith(reference) for r in self.runs):
            raise UserError(f"reference {reference} is not one of the selected runs")
        return {"kind": "average", "params": {"runs": self.runs, "method": self.value("method"),
                                              "reference": reference}}


class SweepForm(Form):
    TITLE_TEXT = "Sweep over widths: train seeds per width, barriers of every pair"

    def fields(self) -> ComposeResult:
        yield from labelled("data set", select("dataset", DATASETS, "moons"))
        yield from labelled("architecture", select("arch", ARCHS, "mlp"))
        yield from labelled("depth", Input("1", id="depth"))
        yield from labelled("widths", Input("4,16,64", id="widths"))
        yield from labelled("seeds per width (>= 2)", Input("2", id="seeds"))
        yield from labelled("epochs", Input("20", id="epochs"))
        yield from labelled("methods", Input("naive,weight", id="methods"))

    def build(self) -> dict:
        widths = self.widths()
        seeds = self.number("seeds", minimum=2, label="seeds per width")
        params = {"dataset": self.value("dataset"), "arch": self.value("arch"),
                  "depth": self.number("depth", minimum=1), "norm": "none", "width": widths[0], "axis": "width",
                  "values": widths, "seeds": seeds,
                  "methods": parse_csv_words(self.text("methods"), CURVE_METHODS, "methods"),
                  "train": {"epochs": self.number("epochs", minimum=1)}, "points": 25}
        return {"kind": "sweep", "params": params}
