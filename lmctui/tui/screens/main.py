"""The home screen: tabs for runs, jobs, barriers and the width sweep."""

from __future__ import annotations


from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static, TabbedContent, TabPane

from lmctui.records import CURVE_FIELDS, RUN_FIELDS
from lmctui.service.views import Snapshot
from lmctui.tui.rows import export_csv, export_figure, job_row, run_row
from lmctui.tui.widgets.curve_plot import CurvePlot
from lmctui.tui.widgets.record_table import RecordTable

# The figures a researcher came for first, then what tells rows apart; the rest scrolls (right / l).
RUN_COLUMNS = [("id", "id"), ("status", "status"), ("test_acc", "test acc"), ("test_loss", "test loss"),
               ("dataset", "data"), ("width", "width"), ("seed", "seed"), ("kind", "kind"), ("method", "method"),
               ("parent", "parent"), ("aligned_to", "aligned to"), ("epochs", "epochs"), ("arch", "arch"), ("depth", "depth"),
               ("optimizer", "opt"), ("lr", "lr"), ("train_acc", "train acc"), ("train_loss", "train loss"),
               ("tags", "tags"), ("created", "created")]
# "where": the device of a local job, or a Slurm job's id and state ("4312_0 PENDING").
# The message (why a job failed, how far it is) before the title: the id names the job.
JOB_COLUMNS = [("id", "id"), ("status", "status"), ("bar", "progress"), ("eta", "eta"), ("elapsed", "elapsed"),
               ("where", "where"), ("message", "message (enter: all)"), ("title", "job")]
BARRIER_COLUMNS = [("pair", "pair"), ("method", "method"), ("loss_barrier_test", "loss test"),
                   ("error_barrier_test", "err test"), ("loss_barrier_train", "loss train"),
                   ("error_barrier_train", "err train"), ("repair", "repair"), ("width", "width"),
                   ("dataset", "data"), ("epochs", "epochs"), ("id", "curve"), ("created", "created")]
SWEEP_COLUMNS = [("width", "width"), ("method", "method"), ("mean", "mean barrier"), ("std", "std"),
                 ("pairs", "pairs"), ("setting", "setting")]
TABS = ("runs", "jobs", "barriers", "sweeps")


class MainScreen(Screen):
    shown = Snapshot()  # what the tables show now
    BINDINGS = [
        Binding("tab", "next_tab", "Next pane", show=False, priority=True),
        Binding("shift+tab", "previous_tab", "Previous pane", show=False, priority=True),
        Binding("1", "show_tab('runs')", "Runs", show=False),
        Binding("2", "show_tab('jobs')", "Jobs", show=False),
        Binding("3", "show_tab('barriers')", "Barriers", show=False),
        Binding("4", "show_tab('sweeps')", "Sweeps", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("n", "app.new_training", "Train"),
        Binding("i", "app.interpolate", "Interp"),
        Binding("a", "app.align", "Align", show=False),
        Binding("v", "app.average", "Average", show=False),
        Binding("p", "app.pairwise", "Pairwise", show=False),
        Binding("w", "app.sweep", "Sweep", show=False),
        Binding("d", "app.regions", "Regions", show=False),
        Binding("c", "cancel_job", "Cancel job", show=False),
        Binding("r", "requeue_job", "Re-queue job", show=False),
        Binding("e", "export", "Export"),
        Binding("f", "figure", "Figure", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs", initial="runs"):
            with TabPane("Runs", id="runs"):
                yield RecordTable(RUN_COLUMNS, selectable=True, id="runs-table")
            with TabPane("Jobs", id="jobs"):
                yield RecordTable(JOB_COLUMNS, id="jobs-table")
            with TabPane("Barriers", id="barriers"):
                yield RecordTable(BARRIER_COLUMNS, id="barriers-table")
            with TabPane("Sweeps", id="sweeps"):
                with Vertical():
                    yield CurvePlot(id="sweep-plot")
                    yield RecordTable(SWEEP_COLUMNS, id="sweeps-table")
        yield Input(placeholder="filter: text or key=value ... (enter to keep, esc to clear)", id="filter")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        for table in self.query(RecordTable):
            table.open_record = self.open_record
        self.runs_table().focus()
        if self.app.views is not None and self.app.views._last is not self.shown:
            self.show(self.app.views._last)

    # -- data ---------------------------------------------------------------------------
    def refresh_data(self) -> None:
        """Ask the app's watcher for a fresh snapshot now (it reads off the UI thread)."""
        self.app.poke()

    def show(self, snapshot: Snapshot) -> None:
        """Redraw the tables whose part of the snapshot changed (a job's progress leaves the runs alone)."""
        try:  # every widget drawn below: the status line mounts after the tables
            for tab in TABS:
                self.query_one(f"#{tab}-table", RecordTable)
            self.query_one("#status", Static)
        except NoMatches:  # still being composed: draw once it is
            self.call_after_refresh(self.show, snapshot)
            return
        last, self.shown = self.shown, snapshot
        if snapshot.runs is not last.runs:
            self.query_one("#runs-table", RecordTable).set_records([run_row(r) for r in snapshot.runs])
        if snapshot.jobs is not last.jobs:
            self.query_one("#jobs-table", RecordTable).set_records([job_row(j) for j in snapshot.jobs])
        if snapshot.curves is not last.curves:
            self.query_one("#barriers-table", RecordTable).set_records(
                [{**c, "pair": f"{c['run_a']}-{c['run_b']}"} for c in snapshot.curves])
            self.query_one("#sweeps-table", RecordTable).set_records(
                [{**row, "id": f"{row['setting']}|{row['method']}|{row['width']}"} for row in snapshot.sweep])
            self._draw_sweep(snapshot.sweep)
        self.update_status()

    def update_status(self) -> None:
        shown, selected = self.shown, len(self.runs_table().selected)
        self.query_one("#status", Static).update(f"{shown.run_count} runs | {shown.running} running, {shown.queued} "
                                                 f"queued jobs | {selected} selected | {self.app.home}")

    def on_record_table_selection_changed(self, message: RecordTable.SelectionChanged) -> None:
        self.update_status()

    def _draw_sweep(self, sweep: list[dict]) -> None:
        lines = {}
        for row in sweep:
            label = f"{row['method']} {row['setting']}"
            xs, ys = lines.setdefault(label, ([], []))
            xs.append(row["width"])
            ys.append(row["mean"])
        self.query_one("#sweep-plot", CurvePlot).draw("test loss barrier against width (mean over pairs)", "width",
                                                      [(label, xs, ys) for label, (xs, ys) in lines.items()],
                                                      log_x=True)

    def current_table(self) -> RecordTable:
        tab = self.query_one("#tabs", TabbedContent).active or "runs"
        return self.query_one(f"#{tab}-table", RecordTable)

    def runs_table(self) -> RecordTable:
        return self.query_one("#runs-table", RecordTable)

    # -- actions ------------------------------------------------------------------------
    def action_show_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        self.current_table().focus()

    def action_next_tab(self) -> None:
        self._step_tab(1)

    def action_previous_tab(self) -> None:
        self._step_tab(-1)

    def _step_tab(self, step: int) -> None:
        if isinstance(self.focused, Input):
            return
        active = self.query_one("#tabs", TabbedContent).active or "runs"
        self.action_show_tab(TABS[(TABS.index(active) + step) % len(TABS)])

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.value = self.current_table().filter_text
        field.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        field.display = False
        self.current_table().set_filter("")
        self.current_table().focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.current_table().set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.input.display = bool(event.value)
        self.current_table().focus()

    def action_open(self) -> None:
        table = self.current_table()
        record = table.cursor_record()
        if record is not None:
            self.open_record(table, record)

    def open_record(self, table: RecordTable, record: dict) -> None:
        """Enter on a row: a run's screen, a job's detail, a curve's plots."""
        if table.id == "runs-table":
            from lmctui.tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(record["id"]))
        elif table.id == "jobs-table":
            from lmctui.tui.screens.job_detail import JobDetailScreen

            self.app.push_screen(JobDetailScreen(record["id"]))
        elif table.id == "barriers-table":
            from lmctui.tui.screens.interpolation import InterpolationScreen

            self.app.push_screen(InterpolationScreen(record["run_a"], record["run_b"]))

    def action_cancel_job(self) -> None:
        self._job_action("cancel")

    def action_requeue_job(self) -> None:
        self._job_action("requeue")

    def _job_action(self, what: str) -> None:
        if self.current_table().id != "jobs-table":
            self.notify("switch to the Jobs pane (2) first", severity="warning")
            return
        record = self.current_table().cursor_record()
        if record is not None:
            self.app.job_action(what, record["id"])

    def action_figure(self) -> None:
        """The Sweeps pane's plot, or the training curves of the selected runs, as a PDF under HOME/exports/."""
        tab = self.query_one("#tabs", TabbedContent).active or "runs"
        if tab == "sweeps":
            export_figure(self.app, "widths", [])
        elif tab == "runs" and self.runs_table().selected_or_cursor():
            export_figure(self.app, "training", self.runs_table().selected_or_cursor())
        else:
            self.notify("f draws a figure on the Runs and Sweeps panes, a run, a curve and the pairwise screen",
                        timeout=5)

    def action_export(self) -> None:
        table = self.current_table()
        name = table.id.removesuffix("-table")
        fields = {"runs": RUN_FIELDS + ("method", "aligned_to"), "barriers": ("pair",) + CURVE_FIELDS}.get(name)
        fields = fields or [k for k, _ in table.record_columns]
        rows = table.visible_records()
        if name == "jobs":
            rows = [{**r, "message": r.get("full_message")} for r in rows]
        export_csv(self.app, name, rows, fields)
