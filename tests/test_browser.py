"""`lmctui serve` in a real browser: Debian's chromium driven by Playwright (no network but
localhost). The terminal is a canvas, so what the app did is read from the registry home."""

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from tui_helpers import sample_registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import browser  # noqa: E402  (scripts/browser.py: the server and the page)

MISSING = [name for name in ("playwright", "textual_serve") if importlib.util.find_spec(name) is None]
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (pip install -e '.[browser-test]')"),
    pytest.mark.skipif(browser.chromium_path() is None, reason="no system chromium (apt-get install chromium)"),
]


def test_the_app_in_a_browser_filters_and_exports(tmp_path):
    home = tmp_path / "home"
    sample_registry(home)
    with browser.served(home) as url, browser.browser_page() as page:
        blocked = []
        page.on("requestfailed", lambda request: blocked.append(request.url))
        browser.open_app(page, url)
        page.screenshot(path=str(tmp_path / "browser.png"))
        for key in ["/", *"width=64", "Enter", "e"]:
            page.keyboard.press(key)
            page.wait_for_timeout(150)
        exports = home / "exports"
        for _ in range(100):
            if list(exports.glob("runs-*.csv")):
                break
            page.wait_for_timeout(100)
    files = sorted(exports.glob("runs-*.csv"))
    assert files, "the app in the browser exported nothing"
    assert [row["id"] for row in csv.DictReader(files[-1].open())] == ["ccc444", "ddd555"]  # the two width-64 runs of sample_registry
    assert (tmp_path / "browser.png").stat().st_size > 10_000
    assert all("127.0.0.1" not in u for u in blocked)  # only requests off localhost were refused
