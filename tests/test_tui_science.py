"""Issue 14's science in the app at 80x24: an alignment's restarts and their spread, matching
options in the forms, basins beside the pairwise matrix, cycle consistency in the background."""

import csv
import statistics
import threading

from textual.widgets import Input

from lmctui.tui.screens.dialogs import PromptScreen
from lmctui.tui.screens.forms import PairForm
from lmctui.tui.screens.interpolation import InterpolationScreen
from lmctui.tui.screens.main import MainScreen
from lmctui.tui.screens.pairwise import PairwiseScreen
from lmctui.tui.screens.run_detail import RunDetailScreen
from lmctui.tui.widgets.record_table import RecordTable
from tui_helpers import (FIXED, curve_doc, refused, run_doc, sample_registry, scenario, text_of, wait_for,
                         write_registry)

OBJECTIVES = [41.5, 44.25, 39.0, 44.0, 42.75]  # five restarts' final <A, P(B)>; the best is the largest


def aligned_registry(home):
    registry = write_registry(home, [run_doc("aaa222", 0), run_doc("bbb333", 1),
                                     run_doc("ccc444", 1, kind="aligned", parent="bbb333", aligned_to="aaa222",
                                             align_method="weight", created="2026-01-01T01:00:00+00:00")])
    registry.insert("alignments", {"run_a": "aaa222", "run_b": "bbb333", "aligned_run": "ccc444", "method": "weight",
                                   "seed": 0, "restarts": len(OBJECTIVES), "restart_objectives": OBJECTIVES,
                                   "best_restart": OBJECTIVES.index(max(OBJECTIVES)), "objective": max(OBJECTIVES),
                                   "iterations": 3, "solves": 12, "created": FIXED})
    return registry


def test_run_screen_of_an_aligned_run_shows_its_restarts_and_their_spread(home):
    aligned_registry(home)

    async def body(app, pilot):
        app.screen.query_one("#runs-table", RecordTable).move_cursor(row=2)
        await pilot.press("enter")
        assert isinstance(app.screen, RunDetailScreen)
        assert await wait_for(lambda: "alignment:" in text_of(app, "#run-config"), pilot)
        lines = text_of(app, "#run-config").splitlines()
        shown = "\n".join(lines)
        assert "weight (seed 0)" in shown and "aligned to: aaa222" in shown
        assert f"restarts: {len(OBJECTIVES)} (best: restart {OBJECTIVES.index(max(OBJECTIVES))})" in shown
        assert f"objective: {max(OBJECTIVES):g} (the best)" in shown
        spread = f"spread: {min(OBJECTIVES):g} / {statistics.median(OBJECTIVES):g} / {max(OBJECTIVES):g}"
        assert spread in shown and "min / median / max" in shown
        # on screen without scrolling: the config panel shows rows 1 to 22 of 24
        spread = next(i for i, line in enumerate(lines) if "min / median / max" in line)
        assert spread < app.screen.query_one("#run-config-scroll").region.height

    scenario(home, body)


def test_pair_form_queues_ste_with_restarts_and_steps(home):
    registry = sample_registry(home)

    async def body(app, pilot):
        await pilot.press("space", "space", "i")
        form = app.screen
        assert isinstance(form, PairForm)
        for field_id in ("restarts", "ste_steps", "ste_lr"):  # reachable at 80x24 (the form scrolls)
            form.query_one(f"#{field_id}").scroll_visible(animate=False)
            await pilot.pause()
            assert form.query_one(f"#{field_id}").region.bottom <= 24
        await pilot.press("ctrl+u", *"naive,ste")
        assert await refused(pilot, "restarts", "0", "restarts")
        form.query_one("#restarts", Input).value = "4"
        form.query_one("#ste_steps", Input).value = "50"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert await wait_for(lambda: any(j["kind"] == "interp" and j["status"] == "queued"
                                          for j in registry.all("jobs")), pilot)
        job = next(j for j in registry.all("jobs") if j["status"] == "queued")
        assert job["params"]["methods"] == ["naive", "ste"]
        assert job["params"]["matching"]["restarts"] == 4 and job["params"]["matching"]["ste"]["steps"] == 50

    scenario(home, body)


def basin_registry(home):
    """Four runs in two basins by construction: a-b and c-d close after alignment, every other pair far."""
    runs = [run_doc(r, i) for i, r in enumerate(("aaa222", "bbb333", "ccc444", "ddd555"))]
    close = {frozenset(("aaa222", "bbb333")): 0.02, frozenset(("ccc444", "ddd555")): 0.04}
    curves, n = [], 0
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            pair = frozenset((a["id"], b["id"]))
            for method, barrier in (("naive", 0.6), ("weight", close.get(pair, 0.5))):
                n += 1
                curves.append(curve_doc(f"cv{n:04d}", a["id"], b["id"], method, barrier))
    return write_registry(home, runs, curves)


def test_pairwise_groups_runs_by_basin_at_a_threshold_the_user_sets_and_exports_them(home):
    basin_registry(home)

    async def body(app, pilot):
        table = app.screen.query_one("#runs-table", RecordTable)
        table.move_cursor(row=0)
        await pilot.press("space", "j", "space", "k", "k", "space", "j", "j", "space")  # picks a, c, b, d
        await pilot.press("p")
        assert isinstance(app.screen, PairwiseScreen)
        assert app.screen.run_ids == ["aaa222", "ccc444", "bbb333", "ddd555"]
        assert await wait_for(lambda: "basin(s)" in text_of(app, "#matrix"), pilot)
        shown = text_of(app, "#matrix")
        assert "2 basin(s)" in shown and "B1: aaa222 bbb333" in shown and "B2: ccc444 ddd555" in shown
        rows = [line.replace("│", " ").split()[:2] for line in shown.splitlines() if line.startswith("│ B")]
        # rows grouped by basin and labelled with it: a, b in B1, then c, d in B2
        assert rows == [["B1", "aaa222"], ["B1", "bbb333"], ["B2", "ccc444"], ["B2", "ddd555"]], shown
        await pilot.press("e")
        exported = sorted((home / "exports").glob("basins-*.csv"))
        assert exported
        rows = {r["run"]: r for r in csv.DictReader(exported[-1].open())}
        assert rows["aaa222"]["basin"] == rows["bbb333"]["basin"] != rows["ccc444"]["basin"] == rows["ddd555"]["basin"]
        assert float(rows["aaa222"]["bbb333"]) == 0.02 and float(rows["aaa222"]["ccc444"]) == 0.5
        await pilot.press("t")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("ctrl+u", *"0.7", "enter")  # above every barrier: one basin
        assert isinstance(app.screen, PairwiseScreen)
        assert await wait_for(lambda: "1 basin(s)" in text_of(app, "#matrix"), pilot)
        assert "barrier <= 0.7" in text_of(app, "#matrix")
        await pilot.press("t", "ctrl+u", *"-1", "enter")
        await pilot.pause()
        assert app.screen.threshold == 0.7 and any("threshold must be" in n.message for n in app._notifications)
        await pilot.press("t", "ctrl+u", *"0.55", "enter", "m")  # naive barriers are 0.6 everywhere ...
        assert app.screen.kind == "naive"
        assert await wait_for(lambda: "4 basin(s)" in text_of(app, "#matrix"), pilot)  # ... so each run alone

    scenario(home, body)


def test_basins_say_which_pairs_are_missing(home):
    sample_registry(home)  # curves only within each width, and the widths cannot be compared

    async def body(app, pilot):
        await pilot.press("space", "space", "space", "p")
        assert await wait_for(lambda: "Basins" in text_of(app, "#matrix"), pilot)
        # aaa222 and bbb333 (width 16) against ccc444 (width 64): no curve can ever join those two pairs
        assert await wait_for(lambda: "2 pair(s) are not comparable" in text_of(app, "#matrix"), pilot)

    scenario(home, body)


def test_consistency_is_measured_in_the_background_for_three_runs_or_more(home, monkeypatch):
    import lmctui.service.consistency as service

    basin_registry(home)
    calls = []

    def fake(registry, runs, **kwargs):
        calls.append((list(runs), threading.current_thread() is threading.main_thread()))
        triangles = [{"runs": runs[:3], "consistent": 1.0, "barrier_direct": 0.1, "barrier_composed": 0.3,
                      "barrier_shared": 0.05},
                     {"runs": runs[1:], "consistent": 0.5, "barrier_direct": 0.2, "barrier_composed": 0.5,
                      "barrier_shared": 0.15}]
        return {"runs": runs, "overall": 0.75, "per_group": {"P_0": 0.75}, "triangles": triangles, "pairs": []}

    monkeypatch.setattr(service, "consistency", fake)

    async def body(app, pilot):
        await pilot.press("space", "space", "p")
        assert await wait_for(lambda: "needs 3 runs" in text_of(app, "#matrix"), pilot)
        await pilot.press("y")
        assert calls == []
        await pilot.press("escape", "space", "p")
        assert await wait_for(lambda: "y: measure it" in text_of(app, "#matrix"), pilot)
        await pilot.press("y")
        assert await wait_for(lambda: "75.0% of units" in text_of(app, "#matrix"), pilot)
        assert calls == [(["aaa222", "bbb333", "ccc444"], False)]  # off the UI thread
        shown = text_of(app, "#matrix")
        assert "1 of 2 triangles wholly" in shown
        assert "composed: barrier a->c mean 0.4000" in shown and "direct: barrier a->c mean 0.1500" in shown

    scenario(home, body)


def test_interpolation_screen_shows_the_refined_barrier(home):
    curve = {**curve_doc("cuv999", "aaa222", "bbb333", "weight", 0.03), "loss_barrier_test_refined": 0.0421,
             "loss_barrier_test_alpha": 0.4375}
    write_registry(home, [run_doc("aaa222", 0), run_doc("bbb333", 1)], [curve])

    async def body(app, pilot):
        await pilot.press("3", "enter")
        assert isinstance(app.screen, InterpolationScreen)
        assert await wait_for(lambda: "refined" in text_of(app, "#barrier-numbers"), pilot)
        assert "weight 0.0421 at α 0.438" in text_of(app, "#barrier-numbers")

    scenario(home, body)
