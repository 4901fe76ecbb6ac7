"""`?`: every key, generated from the bindings so it never goes stale."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = """lmctui: train networks, align their hidden units, interpolate and average them.
Select runs with space, then act on the selection. Every action is also in ctrl+p."""

EXTRA = [("j / k", "move down / up"), ("space", "select a run"), ("s / S", "sort by the next column / reverse"),
         ("enter", "open a run or a curve"), ("ctrl+p", "command palette: every action")]


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, bindings: list[tuple[str, str]]):
        super().__init__()
        self.bindings_list = bindings

    def compose(self) -> ComposeResult:
        rows = [INTRO, ""] + [f"{key:>14}  {text}" for key, text in EXTRA + self.bindings_list]
        with VerticalScroll(id="help-box"):
            yield Static("\n".join(rows), id="help-text")
