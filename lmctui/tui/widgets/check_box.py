"""A check box whose state shows without colour."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class CheckBox(Checkbox):
    """Textual's Checkbox draws the same X whether on or off and tells them apart by colour
    alone, which NO_COLOR (and a monochrome terminal) erases. This one draws X when on and a
    blank when off."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "  # read by Checkbox._button
        return super()._button
