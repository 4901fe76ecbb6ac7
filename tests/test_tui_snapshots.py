"""Snapshots of the main screens at 80x24 (pytest-textual-snapshot).

Registries are written with fixed ids and times at a fixed path, so the pictures are
stable. Update with `pytest tests/test_tui_snapshots.py --snapshot-update` after a
deliberate change, and look at the new SVGs before committing them.
"""

import shutil
import tempfile
from pathlib import Path

import pytest

from lmctui.tui.app import make_app
from tui_helpers import sample_registry, settled

SNAPSHOT_HOME = Path(tempfile.gettempdir()) / "lmctui-snapshot-home"


@pytest.fixture
def snapshot_app():
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)
    sample_registry(SNAPSHOT_HOME)
    app = make_app(SNAPSHOT_HOME, run_jobs=False)
    app.animation_level = "none"  # a tab's underline slides: a picture mid-slide differs
    yield app
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)


SCREENS = {
    "runs": [], "runs-scrolled": ["right", "right", "right", "right", "right"], "jobs": ["2"],
    "job-detail": ["2", "enter"], "barriers": ["3"], "sweeps": ["4"], "interpolation": ["3", "enter"],
    "pairwise": ["space", "space", "p"], "run": ["enter"], "run-scrolled": ["enter", "pagedown"],
    "train-form": ["n"], "help": ["question_mark"],
}


@pytest.mark.parametrize("keys", list(SCREENS.values()), ids=list(SCREENS))
def test_main_screens(snap_compare, snapshot_app, keys):
    async def settle(pilot):
        await settled(pilot)

    async def after(pilot):
        await settle(pilot)
        for key in keys:  # one at a time: each screen opens before the next key
            await pilot.press(key)
            await pilot.pause(0.1)
        for _ in range(3):  # workers read, then draw; let both settle
            await pilot.app.workers.wait_for_complete()
            await pilot.wait_for_scheduled_animations()
            await pilot.pause(0.3)

    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=after)
