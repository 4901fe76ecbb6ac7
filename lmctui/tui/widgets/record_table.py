"""A DataTable of registry records with sorting, a filter and a multi-row selection."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from lmctui.formatting import format_cell
from lmctui.parsing import matches_value

SELECTED = "●"


class RecordTable(DataTable):
    """Rows are dicts keyed by 'id'. `columns` are (key, label) pairs."""

    class SelectionChanged(Message):
        """The set of selected rows changed."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("space", "toggle_select", "Select", show=False),
        Binding("s", "cycle_sort", "Sort", show=False),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
    ]

    def __init__(self, columns: list[tuple[str, str]], selectable: bool = False, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.record_columns = columns
        self.selectable = selectable
        self.records: list[dict] = []
        self.selected: list[str] = []  # ids, in the order they were picked
        self.filter_text = ""
        self.sort_key: str | None = None
        self.sort_reverse = False

    def on_mount(self) -> None:
        if self.selectable:
            self.add_column(" ", key="_sel", width=1)
        for key, label in self.record_columns:
            self.add_column(label, key=key)

    # -- data ---------------------------------------------------------------------------
    def set_records(self, records: list[dict]) -> None:
        self.records = records
        ids = {r["id"] for r in records}
        self.selected = [i for i in self.selected if i in ids]
        self._redraw()

    def visible_records(self) -> list[dict]:
        rows = [r for r in self.records if self._passes(r)]
        if self.sort_key:
            rows.sort(key=lambda r: _sort_value(r.get(self.sort_key)), reverse=self.sort_reverse)
        return rows

    def cursor_record(self) -> dict | None:
        rows = self.visible_records()
        return rows[self.cursor_row] if rows and 0 <= self.cursor_row < len(rows) else None

    def selected_or_cursor(self) -> list[str]:
        if self.selected:
            return list(self.selected)
        record = self.cursor_record()
        return [record["id"]] if record else []

    # -- actions ------------------------------------------------------------------------
    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._redraw()

    def action_toggle_select(self) -> None:
        record = self.cursor_record()
        if not self.selectable or record is None:
            return
        if record["id"] in self.selected:
            self.selected.remove(record["id"])
        else:
            self.selected.append(record["id"])
        self._redraw()
        self.action_cursor_down()
        self.post_message(self.SelectionChanged())

    def action_cycle_sort(self) -> None:
        keys = [k for k, _ in self.record_columns]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else keys[0]
        self._redraw()
        self.notify(f"sorted by {self.sort_key}", timeout=2)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._redraw()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key == "_sel":
            return
        self.sort_reverse = not self.sort_reverse if self.sort_key == key else False
        self.sort_key = key
        self._redraw()

    # -- internals ----------------------------------------------------------------------
    def _passes(self, record: dict) -> bool:
        for token in self.filter_text.split():
            key, sep, value = token.partition("=")
            if sep:
                if not matches_value(record.get(key), value):
                    return False
            elif not any(token.lower() in format_cell(record.get(k)).lower() for k, _ in self.record_columns):
                return False
        return True

    def _redraw(self) -> None:
        row = self.cursor_row
        self.clear()
        for record in self.visible_records():
            cells = [format_cell(record.get(k)) for k, _ in self.record_columns]
            if self.selectable:
                cells.insert(0, SELECTED if record["id"] in self.selected else " ")
            self.add_row(*cells, key=record["id"])
        if self.row_count:
            self.move_cursor(row=min(max(row, 0), self.row_count - 1))


def _sort_value(value):
    """Numbers before text before missing values, each in natural order."""
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))
