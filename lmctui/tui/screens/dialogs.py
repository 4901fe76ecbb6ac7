"""Small modal dialogs: a yes/no question, one line of input, and the screen for an unusable registry."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Static

from lmctui.tui.screens.closing import closing


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [closing("y", "answer(True)", "Yes"), closing("n,escape", "answer(False)", "No")]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question)
            yield Button("Yes (y)", id="yes", variant="error")
            yield Button("No (n)", id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class RegistryErrorScreen(Screen):
    BINDINGS = [closing("q,escape", "app.quit", "Quit")]

    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("[b red]Cannot open the registry[/]\n")
            yield Static(self.message, id="registry-error")
            yield Static("\nNothing was changed. Fix or move the file, or start with --home elsewhere. q quits.")


class PromptScreen(ModalScreen[str | None]):
    """One line of input: enter answers, esc keeps what was there."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, question: str, value: str = "", field_id: str = "answer"):
        super().__init__()
        self.question, self.value, self.field_id = question, value, field_id

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static(f"{self.question}\n[dim]enter: set, esc: cancel[/]")
            yield Input(self.value, id=self.field_id)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
