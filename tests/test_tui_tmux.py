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


def keys(*names):
    """Send keys one at a time: an Escape followed at once by a key reads as alt+key."""
    for name in names:
        tmux("send-keys", "-t", SESSION, name)
        time.sleep(0.3 if name == "Escape" else 0.05)


def seen_while_scrolling(key, pages=6):
    """Everything the screen shows while `key` is pressed a few times (for scrolled views)."""
    seen = screen()
    for _ in range(pages):
        keys(key)
        time.sleep(0.4)
        seen += screen()
    return seen


def test_lmctui_at_80x24_shows_accuracy_failure_reason_and_config_then_quits(home):
    sample_registry(home)
    lmctui = Path(sys.executable).with_name("lmctui")
    command = f"{lmctui if lmctui.exists() else sys.executable + ' -m lmctui.tui.app'} --home {home}"
    tmux("kill-session", "-t", SESSION)
    started = tmux("new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", command)
    assert started.returncode == 0, started.stderr
    try:
        assert wait_for_text("aaa222", 60), screen()
        assert wait_for_text("4 runs"), screen()
        runs = screen()
        assert "test acc" in runs and "0.95" in runs  # the accuracy, on the first screen
        keys("2")
        assert wait_for_text("failed"), screen()
        keys("Enter")
        assert wait_for_text("differ in width: 16 vs 64"), screen()  # the failed job's reason
        keys("Escape", "1", "Enter")
        assert wait_for_text("test_acc"), screen()
        config = seen_while_scrolling("PageDown")
        for field in ("momentum", "weight_decay", "schedule", "batch_size", "warmup", "input_shape"):
            assert field in config, (field, config)
        keys("Escape", "3")
        assert wait_for_text("aaa222-bbb333"), screen()
        keys("q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and tmux("has-session", "-t", SESSION).returncode == 0:
            time.sleep(0.2)
        assert tmux("has-session", "-t", SESSION).returncode != 0, "lmctui did not quit on q"
    finally:
        tmux("kill-session", "-t", SESSION)
