"""A DataTable of registry records with sorting, a filter, a multi-row selection and
horizontal scrolling by column."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from lmctui.formatting import format_cell
from lmctui.parsing import matches_value

SELECTED = "●"
SORT_MARKERS = {False: " ▲", True: " ▼"}  # on the sorted column's header: ascending, descending
# Rows drawn before the first frame of a redraw; the rest are added right after it
# (10,000 rows take about 0.25 s on the UI thread).
FIRST_ROWS = 500
# Rows added per frame after it: 100,000 runs added at once held the UI for about 8 s.
FILL_CHUNK = 5_000


class RecordTable(DataTable):
    """Rows are dicts keyed by 'id'. `columns` are (key, label) pairs."""

    class SelectionChanged(Message):
        """The set of selected rows changed."""

    class Opened(Message):
        """Enter on a row: the screen opens it (posted after `open_record` ran)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("right,l", "scroll_columns(1)", "Scroll right", show=False),
        Binding("left,h", "scroll_columns(-1)", "Scroll left", show=False),
        Binding("space", "toggle_select", "Select", show=False),
        Binding("s", "cycle_sort", "Sort", show=False),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
        # A binding, not the RowSelected message: the screen opens while this key is
        # handled, so the keys typed after it go to the new screen.
        Binding("enter", "open", "Open", show=False),
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
        self.open_record = None  # set by the screen: called with the record under the cursor
        self._fill = 0  # which redraw the rows still being added belong to
        self._filling = False
        self._return_to = (None, 0, (0, 0))  # cursor record, row and scroll a redraw restores

    def on_mount(self) -> None:
        if self.selectable:
            self.add_column(" ", key="_sel", width=1)
        for key, label in self.record_columns:
            self.add_column(label, key=key)
        # The selection mark and the id stay put when a wide table scrolls right: a row stays nameable.
        self.fixed_columns = int(self.selectable) + int(bool(self.record_columns) and self.record_columns[0][0] == "id")
        if self.records:
            self._redraw()  # records that arrived before the columns

    # -- data ---------------------------------------------------------------------------
    def set_records(self, records: list[dict]) -> None:
        """Show `records`; nothing is redrawn when they equal what is shown."""
        if records == self.records:
            return
        old, self.records = self.records, records
        ids = {r["id"] for r in records}
        self.selected = [i for i in self.selected if i in ids]
        if self.columns and not self._patch(old, records):
            self._redraw()

    def _patch(self, old: list[dict], new: list[dict]) -> bool:
        """Update in place what a registry change usually is (a few runs changed, or new ones
        added at the end) instead of rebuilding every row; False when a rebuild is needed."""
        if self._filling or not old or self.filter_text or self.sort_key or len(new) < len(old):
            return False
        if any(a["id"] != b["id"] for a, b in zip(old, new)):
            return False
        keys = [k for k, _ in self.record_columns]
        for before, after in zip(old, new):
            if before is not after and before != after:  # an unchanged row is usually the same object
                for key in keys:
                    if before.get(key) != after.get(key):
                        self.update_cell(after["id"], key, _cell(format_cell(after.get(key))), update_width=True)
        for record in new[len(old):]:
            self.add_row(*self._cells(record), key=record["id"])
        return True

    def visible_records(self) -> list[dict]:
        rows = [r for r in self.records if self._passes(r)] if self.filter_text else list(self.records)
        if self.sort_key:
            rows.sort(key=lambda r: _sort_value(r.get(self.sort_key)), reverse=self.sort_reverse)
        return rows

    def cursor_record(self) -> dict | None:
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._by_id.get(key)

    def selected_or_cursor(self) -> list[str]:
        if self.selected:
            return list(self.selected)
        record = self.cursor_record()
        return [record["id"]] if record else []

    # -- actions ------------------------------------------------------------------------
    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._redraw()

    def action_open(self) -> None:
        record = self.cursor_record()
        if record is not None and self.open_record is not None:
            self.open_record(self, record)

    def action_scroll_columns(self, step: int) -> None:
        """Scroll so that the next (or previous) column starts at the left edge (after the fixed ones)."""
        starts, x = [], 0
        for column in self.ordered_columns[self.fixed_columns:]:
            starts.append(x)
            x += column.get_render_width(self)
        x = self.scroll_target_x
        if step > 0:
            target = next((s for s in starts if s > x), self.max_scroll_x)
        else:
            target = next((s for s in reversed(starts) if s < x), 0)
        self.scroll_to(x=min(target, self.max_scroll_x), animate=False)

    def action_toggle_select(self) -> None:
        """Select or unselect the row under the cursor, then move down (so space, space picks two)."""
        record = self.cursor_record()
        if not self.selectable or record is None:
            return
        if record["id"] in self.selected:
            self.selected.remove(record["id"])
        else:
            self.selected.append(record["id"])
        self.update_cell(record["id"], "_sel", SELECTED if record["id"] in self.selected else " ")
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
    @property
    def _by_id(self) -> dict[str, dict]:
        if getattr(self, "_index_of", None) is None or self._index_source is not self.records:
            self._index_of, self._index_source = {r["id"]: r for r in self.records}, self.records
        return self._index_of

    def _passes(self, record: dict) -> bool:
        for token in self.filter_text.split():
            key, sep, value = token.partition("=")
            if sep:
                if not matches_value(record.get(key), value):
                    return False
            elif not any(token.lower() in format_cell(record.get(k)).lower() for k, _ in self.record_columns):
                return False
        return True

    def _mark_sorted_column(self) -> None:
        """The sorted column's header says so (▲ ascending, ▼ descending); the others lose it."""
        for key, label in self.record_columns:
            column = self.columns.get(key)
            if column is not None:
                marked = label + SORT_MARKERS[self.sort_reverse] if key == self.sort_key else label
                if column.label.plain != marked:
                    column.label = Text(marked)
                    column.content_width = max(column.content_width, cell_len(marked))

    def _redraw(self) -> None:
        """Rebuild the rows, keeping the cursor on the same record and the scroll where it was."""
        self._mark_sorted_column()
        if not self._filling:  # else the place to return to is the one from before that fill
            self._return_to = (self.cursor_record(), self.cursor_row, (self.scroll_x, self.scroll_y))
        self.clear()
        self._fill += 1
        rows = self.visible_records()
        for record in rows[:FIRST_ROWS]:
            self.add_row(*self._cells(record), key=record["id"])
        self._filling = len(rows) > FIRST_ROWS
        if self._filling:  # the first frame shows a screenful; the rest follow it, a chunk a frame
            self.call_after_refresh(self._add_rest, rows, FIRST_ROWS, self._fill)
        else:
            self._place(*self._return_to)

    def _add_rest(self, rows: list[dict], start: int, fill: int) -> None:
        if fill != self._fill:
            return  # redrawn since: that redraw adds its own rows
        for record in rows[start:start + FILL_CHUNK]:
            self.add_row(*self._cells(record), key=record["id"])
        if start + FILL_CHUNK < len(rows):
            self.call_after_refresh(self._add_rest, rows, start + FILL_CHUNK, fill)
            return
        self._filling = False
        if self.cursor_row == 0 and self.scroll_y == 0:  # unless the user moved while the rows came in
            self._place(*self._return_to)

    def _place(self, current: dict | None, row: int, scroll) -> None:
        """The cursor back on the record it was on (or the same row), the scroll where it was."""
        if not self.row_count:
            return
        if current is not None and current["id"] in self._row_locations:
            row = self.get_row_index(current["id"])
        self.move_cursor(row=min(max(row, 0), self.row_count - 1), scroll=False)
        self.scroll_to(*scroll, animate=False, immediate=True)

    def _update_dimensions(self, new_rows) -> None:
        """Column widths from the cells' text. Every cell here is plain text, so `cell_len`
        measures it exactly; DataTable's own pass measures each cell through rich (about
        3 s for 10,000 runs, on the UI thread, before the first frame)."""
        columns = self.ordered_columns
        for row_key in new_rows:
            cells = self._data.get(row_key)
            if cells is None:
                continue  # removed before it was measured
            for column in columns:
                value = cells.get(column.key, "")
                width = cell_len(value.plain if isinstance(value, Text) else str(value))
                if width > column.content_width:
                    column.content_width = width
        super()._update_dimensions(())  # the virtual size, from the widths just set

    def _cells(self, record: dict) -> list:
        cells = [_cell(format_cell(record.get(k))) for k, _ in self.record_columns]
        if self.selectable:
            cells.insert(0, SELECTED if record["id"] in self.selected else " ")
        return cells


def _cell(text: str):
    """A cell shown as typed: DataTable reads a str as markup, so text with brackets goes as Text."""
    return Text(text) if "[" in text else text


def _sort_value(value):
    """Numbers before text before missing values, each in natural order."""
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))
