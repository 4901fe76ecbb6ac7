"""How values read in a table cell, the same in the CLI and the app. No rich, no torch."""

from __future__ import annotations


def format_cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
