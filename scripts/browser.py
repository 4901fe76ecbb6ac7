"""`lmctui serve` in a real browser: start the server in its own process group, drive the
system chromium through Playwright with every request off localhost blocked, stop the group.

    .venv/bin/python scripts/browser.py [HOME]     # screenshot of the demo registry -> assets/browser.png

tests/test_browser.py uses the same functions.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
LOCAL = ("127.0.0.1", "localhost", "[::1]", "::1")
TERMINAL = ".xterm-screen"  # drawn once the app's first frame reached the page


def chromium_path() -> str | None:
    """Debian's chromium (Playwright's own download is not reachable here)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(home: Path, port: int | None = None, seconds: float = 30.0):
    """`lmctui serve` on 127.0.0.1 in its own process group; yields its URL; ends the whole
    group (the server and every app it started: an app whose browser dropped ignores SIGTERM)."""
    port = port or free_port()
    log = open(Path(home).parent / f"serve-{port}.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "lmctui.tui.app", "serve", "--home", str(home),
                               "--port", str(port)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"lmctui serve exited with {server.returncode}; see {log.name}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"lmctui serve did not listen on {port} in {seconds:.0f} s")
        yield served_url(Path(log.name))
    finally:
        stop_group(server)
        log.close()


def served_url(log: Path) -> str:
    """The URL `lmctui serve` printed: the page with its token (without it, 403)."""
    for line in log.read_text().splitlines():
        if "serving on " in line:
            return line.split("serving on ")[1].split()[0]
    raise RuntimeError(f"lmctui serve printed no URL; see {log}")


def stop_group(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(5)
            if sig == signal.SIGTERM:
                time.sleep(0.5)  # let the group's apps go too, then make sure
        except subprocess.TimeoutExpired:
            continue


def block_remote(route) -> None:
    """Only localhost: nothing may leave this machine (the page loads nothing remote; this keeps it so)."""
    if urlparse(route.request.url).hostname in LOCAL:
        route.continue_()
    else:
        route.abort()


@contextmanager
def browser_page(width: int = 1000, height: int = 640):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route("**/*", block_remote)
            yield page
        finally:
            browser.close()


def open_app(page, url: str, seconds: float = 60.0) -> None:
    """Open the page and wait until the terminal is drawn and the app has painted into it."""
    page.goto(url)
    page.wait_for_selector(TERMINAL, timeout=seconds * 1000)
    page.wait_for_timeout(2500)  # the app's first frame follows the terminal by a moment
    page.click(TERMINAL)


def main() -> None:
    home = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "lmc-demo"
    if not (home / "registry.json").exists():
        subprocess.run([sys.executable, "-c", "from lmctui.tui.launch import make_demo; import sys; "
                        "make_demo(sys.argv[1])", str(home)], check=True, cwd=REPO)
    with served(home) as url, browser_page() as page:
        open_app(page, url)
        page.keyboard.press("3")
        page.wait_for_timeout(1500)
        out = REPO / "assets" / "browser.png"
        page.screenshot(path=str(out))
        print(f"screenshot in {out}")


if __name__ == "__main__":
    main()
