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
    yield make_app(SNAPSHOT_HOME, run_jobs=False)
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)


@pytest.mark.parametrize("keys", [[], ["2"], ["3"], ["3", "enter"], ["space", "space", "p"], ["question_mark"]],
                         ids=["runs", "jobs", "barriers", "interpolation", "pairwise", "help"])
def test_main_screens(snap_compare, snapshot_app, keys):
    assert snap_compare(snapshot_app, press=keys, terminal_size=(80, 24), run_before=settled)
