"""A decision-region map: one glyph per grid cell, a different glyph and colour per class,
the test points on top (their class digit) and the data's axes around it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

# Glyphs keep classes apart without colour (NO_COLOR, monochrome terminals).
GLYPHS = "░▓▒█+x"
COLORS = ("red", "blue", "green", "yellow", "magenta", "cyan")
Y_LABEL = 7  # columns for the y axis' labels


class RegionMap(Static):
    def show(self, grid: dict) -> None:
        self.update(self.render_grid(grid))

    @staticmethod
    def render_grid(grid: dict) -> Text:
        """`grid`: classes (rows of class ids, top row first), extent (x0, x1, y0, y1) and
        points [(x, y, class)] to mark; extent and points may be missing."""
        classes = grid["classes"]
        rows, columns = len(classes), len(classes[0]) if classes else 0
        marks = {}
        extent = grid.get("extent")
        if extent:
            x0, x1, y0, y1 = extent
            for x, y, label in grid.get("points") or ():
                col = round((x - x0) / (x1 - x0) * (columns - 1)) if x1 > x0 else 0
                row = round((y1 - y) / (y1 - y0) * (rows - 1)) if y1 > y0 else 0
                if 0 <= row < rows and 0 <= col < columns:
                    marks[(row, col)] = label
        text = Text()
        for r, row in enumerate(classes):
            text.append(_y_label(extent, r, rows))
            for c, cls in enumerate(row):
                if (r, c) in marks:
                    label = marks[(r, c)]
                    text.append(str(label % 10), style=f"bold white on {COLORS[label % len(COLORS)]}")
                else:
                    text.append(GLYPHS[cls % len(GLYPHS)], style=COLORS[cls % len(COLORS)])
            text.append("\n")
        if extent:
            text.append(_x_axis(extent, columns))
        return text


def _y_label(extent, row: int, rows: int) -> str:
    if not extent:
        return ""
    if row in (0, rows // 2, rows - 1):
        y0, y1 = extent[2], extent[3]
        value = y1 - (y1 - y0) * row / max(rows - 1, 1)
        return f"{value:>{Y_LABEL - 2}.2g} ┤"
    return " " * (Y_LABEL - 1) + "│"


def _x_axis(extent, columns: int) -> str:
    x0, x1 = extent[0], extent[1]
    line = [" "] * columns
    for col in (0, columns // 2, columns - 1):
        label = f"{x0 + (x1 - x0) * col / max(columns - 1, 1):.2g}"
        start = min(max(col - len(label) // 2, 0), columns - len(label))
        line[start:start + len(label)] = label
    return " " * Y_LABEL + "".join(line)
