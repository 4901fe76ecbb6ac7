"""`?`: every key, generated from the bindings so it never goes stale; fits 80 columns."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from lmctui.tui.screens.closing import closing

INTRO = """Train networks, align their hidden units, interpolate and average them.
Select runs with space, then act on the selection.
The command palette finds every action by name."""

# Keys of the tables and screens that are not main-screen bindings: (keys, what).
TABLE_KEYS = [("j / k, up / down", "move"), ("right / l, left / h", "scroll the table by a column"),
              ("space", "select or unselect a run, then move down"), ("s / S", "sort by the next column / reverse"),
              ("enter", "open a run, a job (params, log, error) or a curve"), ("esc", "back, or clear the filter"),
              ("p, then c t m y e", "queue, basin threshold, kind, consistency, CSV"),
              ("ctrl+p", "command palette: every action by name")]
KEY_WIDTH = 20


class HelpScreen(ModalScreen):
    BINDINGS = [closing("escape,q,question_mark", "app.pop_screen", "Close"),
                Binding("j,down", "scroll_help(1)", "Down", show=False),
                Binding("k,up", "scroll_help(-1)", "Up", show=False)]

    def __init__(self, bindings: list[Binding]):
        super().__init__()
        self.bindings_list = bindings

    def rows(self) -> list[tuple[str, str]]:
        """(keys as typed, what they do), each key once, in the order the app lists them."""
        rows, seen = list(TABLE_KEYS), {"ctrl+p", "escape", "tab", "shift+tab"}
        rows.append(("tab / shift+tab", "next / previous pane"))
        for binding in self.bindings_list:
            if binding.key in seen:
                continue
            seen.add(binding.key)
            rows.append((", ".join(self.app.get_key_display(Binding(k, "")) for k in binding.key.split(",")),
                         binding.description))
        return rows

    def action_scroll_help(self, lines: int) -> None:
        """j / k scroll the help as they move through every table."""
        self.query_one("#help-box", VerticalScroll).scroll_relative(y=lines, animate=False)

    def compose(self) -> ComposeResult:
        lines = [INTRO, ""] + [f"{keys:>{KEY_WIDTH}}  {text}" for keys, text in self.rows()]
        with VerticalScroll(id="help-box"):
            yield Static("\n".join(lines), id="help-text")
        yield Footer()
