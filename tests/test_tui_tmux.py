"""The real `lmctui` in tmux: start it, read the screen, send keys, quit."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_helpers import sample_registry

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
SESSION = "lmctui-test"


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION).stdout


def wait_for_text(text, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in screen():
            return True
        time.sleep(0.2)
    return False


def test_lmctui_runs_in_tmux_and_quits_on_q(home):
    sample_registry(home)
    lmctui = Path(sys.executable).with_name("lmctui")
    command = f"{lmctui if lmctui.exists() else sys.executable + ' -m lmctui.tui.app'} --home {home}"
    tmux("kill-session", "-t", SESSION)
    started = tmux("new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", command)
    assert started.returncode == 0, started.stderr
    try:
        assert wait_for_text("aaa111", 60), screen()
        assert wait_for_text("4 runs"), screen()
        tmux("send-keys", "-t", SESSION, "3")
        assert wait_for_text("aaa111-bbb222"), screen()
        tmux("send-keys", "-t", SESSION, "q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and tmux("has-session", "-t", SESSION).returncode == 0:
            time.sleep(0.2)
        assert tmux("has-session", "-t", SESSION).returncode != 0, "lmctui did not quit on q"
    finally:
        tmux("kill-session", "-t", SESSION)
