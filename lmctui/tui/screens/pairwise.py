"""The matrix of barriers over all pairs of the selected runs, naive and aligned, the basins
they fall into at a threshold the user sets, and (three runs or more) cycle consistency."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from lmctui.errors import UserError
from lmctui.tui.screens.closing import BACK
from lmctui.tui.rows import export_csv, export_figure

DEFAULT_THRESHOLD = 0.1  # a test loss barrier below this is "one basin" (experiments/basins.py uses it too)
KINDS = ("aligned", "naive")  # which barrier of each pair the basins are drawn from (`m` switches)


def barrier_style(value: float | None) -> str:
    """Green where averaging works (no barrier), red where a wall stands."""
    if value is None:
        return "dim"
    if value < 0.05:
        return "bold green"
    if value < 0.25:
        return "yellow"
    return "bold red"


class PairwiseScreen(Screen):
    BINDINGS = [BACK,
                Binding("c", "compute", "Queue"),
                Binding("t", "threshold", "Threshold"),
                Binding("m", "switch_kind", "Kind"),
                Binding("y", "consistency", "Cycles"),
                Binding("e", "export", "CSV"),
                Binding("f", "figure", "Figure", show=False)]

    def __init__(self, run_ids: list[str]):
        super().__init__()
        self.run_ids = run_ids
        self.matrix = None  # the last one shown
        self.threshold = DEFAULT_THRESHOLD
        self.kind = KINDS[0]
        self.basins: dict | None = None  # service.basins' answer, or {"error": why}
        self.consistency: dict | None = None  # service.consistency's answer, {"error": why} or {"running": True}

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="matrix-scroll"):
            yield Static("loading ...", id="matrix")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#matrix-scroll").focus()
        self.refresh_data()

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="pairwise")
    def _load(self) -> None:
        matrix = self.app.views.pairwise(self.run_ids)
        threshold, kind = self.threshold, self.kind
        refused = matrix.get("incompatible") or {}
        missing = [pair for pair, c in matrix["cells"].items() if c[kind] is None]
        never = [pair for pair in missing if pair in refused]  # no curve can join these: interpolating won't help
        if never:
            found = {"error": f"{len(never)} pair(s) are not comparable (×): no basins for these runs"}
        elif missing:
            found = {"error": f"{len(missing)} pair(s) are not interpolated yet (c queues them): no basins"}
        else:
            found = self.app.views.basins(self.run_ids, threshold, kind)
        self.app.call_from_thread(self.show, matrix, found)

    def show(self, matrix: dict, basins: dict | None = None) -> None:
        self.matrix, self.basins = matrix, basins
        self.query_one("#matrix", Static).update(Group(
            Text("Test loss barrier of every pair: naive above the diagonal, aligned below.\n"
                 "Green: averaging works here; red: a barrier stands. Rows grouped by basin."),
            self._table(), self._notes(), self._basin_text(), self._consistency_text()))

    def ordered_runs(self) -> list[tuple[str, str]]:
        """(basin label, run) in display order: basin by basin when they are known."""
        members = (self.basins or {}).get("members")
        if not members:
            return [("", run) for run in self.run_ids]
        return [(f"B{b + 1}", run) for b, group in enumerate(members) for run in group]

    def action_figure(self) -> None:
        """The basins (heatmap under its dendrogram) as a PDF under HOME/exports/."""
        export_figure(self.app, "basins", self.run_ids, threshold=self.threshold, method=self.kind)

    def _table(self) -> Table:
        refused = self.matrix.get("incompatible", {})
        rows = self.ordered_runs()
        table = Table()
        table.add_column("basin" if rows[0][0] else "")
        table.add_column("")
        for _, run in rows:
            table.add_column(run, justify="right")
        for i, (label, a) in enumerate(rows):
            cells = []
            for j, (_, b) in enumerate(rows):
                if i == j:
                    cells.append(Text("·", style="dim"))
                    continue
                if (a, b) in refused or (b, a) in refused:
                    cells.append(Text("×", style="dim red"))
                    continue
                pair = self.matrix["cells"].get((a, b)) or self.matrix["cells"].get((b, a))
                value = pair["naive"] if i < j else pair["aligned"]
                cells.append(Text("-" if value is None else f"{value:.3f}", style=barrier_style(value)))
            last_of_basin = i + 1 == len(rows) or rows[i + 1][0] != label
            table.add_row(Text(label, style="bold"), a, *cells, end_section=bool(label) and last_of_basin)
        return table

    def _notes(self) -> Text:
        refused = self.matrix.get("incompatible", {})
        missing = sum(1 for pair, c in self.matrix["cells"].items()
                      if (c["naive"] is None or c["aligned"] is None) and pair not in refused)
        text = Text(f"{missing} pair(s) without curves: press c to queue them\n" if missing else "")
        if refused:
            text.append("× cannot be compared:\n" + "".join(f"  {why}\n" for why in refused.values()))
        return text

    def _basin_text(self) -> Text:
        text = Text(f"\nBasins: {self.kind} barrier <= {self.threshold:g}", style="bold")
        text.append("  (t: threshold, m: naive/aligned)\n", style="dim")
        if self.basins is None:
            return text.append("  computing ...\n", style="dim")
        if "error" in self.basins:
            return text.append(f"  {self.basins['error']}\n", style="yellow")
        text.append(f"  {self.basins['count']} basin(s), {self.basins['linkage']} linkage\n")
        for b, group in enumerate(self.basins["members"]):
            text.append(f"  B{b + 1}: ", style="bold")
            text.append(" ".join(group) + "\n")
        return text

    def _consistency_text(self) -> Text:
        text = Text("\nCycle consistency of weight matching (y)", style="bold")
        if len(self.run_ids) < 3:
            return text.append(": needs 3 runs or more\n", style="dim")
        found = self.consistency
        if found is None:
            return text.append(f"\n  y: measure it for these {len(self.run_ids)} runs (in the background;"
                               " it aligns\n  every pair, which takes a while)\n", style="dim")
        if found.get("running"):
            return text.append(f"\n  computing in the background ... {found.get('progress') or ''}\n", style="dim")
        if "error" in found:
            return text.append(f"\n  {found['error']}\n", style="red")
        return text.append_text(describe_consistency(found))

    # -- actions ------------------------------------------------------------------------
    def action_compute(self) -> None:
        if self.matrix is None:
            self.notify("the matrix is still loading", severity="warning")
            return
        queued = self.app.queue_missing_pairs(self.matrix)
        if queued:
            self.notify(f"queuing {queued} interpolation job(s)")
        elif not self.matrix.get("incompatible"):
            self.notify("every pair has its curves already")

    def action_threshold(self) -> None:
        from lmctui.tui.screens.dialogs import PromptScreen

        self.app.push_screen(PromptScreen("Basin threshold: the largest test loss barrier inside one basin",
                                          f"{self.threshold:g}", "threshold"), self._set_threshold)

    def _set_threshold(self, answer: str | None) -> None:
        if answer is None:
            return
        try:
            value = float(answer)
        except ValueError:
            value = -1.0
        if not 0 <= value < float("inf"):
            self.notify(f"threshold must be a barrier >= 0, got {answer!r}", severity="error")
            return
        self.threshold, self.basins = value, None
        self.refresh_data()

    def action_switch_kind(self) -> None:
        self.kind = KINDS[(KINDS.index(self.kind) + 1) % len(KINDS)]
        self.basins = None
        self.refresh_data()

    def action_export(self) -> None:
        """One row per run: its basin, then its barrier (of the current kind) to every run."""
        if self.matrix is None:
            self.notify("the matrix is still loading", severity="warning")
            return
        cells, runs = self.matrix["cells"], [run for _, run in self.ordered_runs()]

        def barrier(a, b):
            pair = cells.get((a, b)) or cells.get((b, a))
            return 0.0 if a == b else pair and pair[self.kind]

        linkage = (self.basins or {}).get("linkage")
        rows = [{"run": a, "basin": label or None, "threshold": self.threshold, "kind": self.kind,
                 "metric": self.matrix["metric"], "linkage": linkage, **{b: barrier(a, b) for b in runs}}
                for label, a in self.ordered_runs()]
        export_csv(self.app, "basins", rows, ("run", "basin", "threshold", "kind", "metric", "linkage", *runs))

    def action_consistency(self) -> None:
        if len(self.run_ids) < 3:
            self.notify("cycle consistency needs 3 runs or more", severity="warning")
            return
        if (self.consistency or {}).get("running"):
            return
        self.consistency = {"running": True}
        if self.matrix is not None:
            self.show(self.matrix, self.basins)
        self._measure_consistency()

    @work(thread=True, exclusive=True, group="consistency")
    def _measure_consistency(self) -> None:
        from lmctui.service.consistency import consistency  # imports torch: only when asked

        def progress(fraction: float, text: str) -> None:
            self.app.call_from_thread(self._measured, {"running": True, "progress": f"{fraction:.0%}: {text}"})

        try:
            found = consistency(self.app.registry, list(self.run_ids), on_progress=progress)
        except UserError as err:
            found = {"error": str(err)}
        except Exception as err:  # the work failed (a run's weights damaged, out of memory): say so
            found = {"error": f"failed: {type(err).__name__}: {err}"}
        self.app.call_from_thread(self._measured, found)

    def _measured(self, found: dict) -> None:
        self.consistency = found
        if self.is_attached and self.matrix is not None:
            self.show(self.matrix, self.basins)


def describe_consistency(found: dict) -> Text:
    """How often the direct map a->c equals the one through b, and the barrier each map gives."""
    text = Text()
    triangles = found.get("triangles") or []
    agreed = sum(1 for t in triangles if (t.get("consistent") or 0) >= 1.0)  # the fraction of units that agree
    text.append(f": {found['overall']:.1%} of units map alike", style="bold")
    text.append(f" ({agreed} of {len(triangles)} triangles wholly)\n")
    groups = found.get("per_group") or {}
    if 0 < len(groups) <= 6:
        text.append("  per group: " + ", ".join(f"{g} {v:.0%}" for g, v in groups.items()) + "\n", style="dim")
    elif groups:
        low = min(groups, key=groups.get)
        text.append(f"  {len(groups)} groups; the least consistent: {low} {groups[low]:.0%}\n", style="dim")
    for name, key in (("direct", "barrier_direct"), ("composed", "barrier_composed"), ("shared frame", "barrier_shared")):
        values = [t[key] for t in triangles if t.get(key) is not None]
        if values:
            text.append(f"  {name:>12}: barrier a->c mean {sum(values) / len(values):.4f}"
                        f"  max {max(values):.4f}\n")
    return text
