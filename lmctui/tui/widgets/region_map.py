"""A decision-region map: one glyph per grid cell, a different glyph and colour per class."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

# Glyphs keep classes apart without colour (NO_COLOR, monochrome terminals).
GLYPHS = "░▓▒█+x"
COLORS = ("red", "blue", "green", "yellow", "magenta", "cyan")


class RegionMap(Static):
    def show(self, classes: list[list[int]], caption: str) -> None:
        text = Text()
        for row in classes:
            for c in row:
                text.append(GLYPHS[c % len(GLYPHS)], style=COLORS[c % len(COLORS)])
            text.append("\n")
        text.append(caption)
        self.update(text)
