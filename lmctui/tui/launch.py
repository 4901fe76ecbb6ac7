"""How `lmctui` starts: the arguments, the demo registry on first use, and `lmctui serve`
(the same app in a browser through textual-serve)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from functools import partial

from lmctui.errors import UserError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
say = partial(print, file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    if argv[:1] == ["serve"]:
        return _serve_parser().parse_args(argv[1:], argparse.Namespace(command="serve"))
    parser = argparse.ArgumentParser(prog="lmctui", description="Terminal workbench for linear mode connectivity. "
                                     "`lmctui serve --help`: the same app in a browser.")
    _common(parser)
    parser.add_argument("--demo", action="store_true", help="train a few toy networks first if the registry is empty")
    return parser.parse_args(argv, argparse.Namespace(command="app"))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="registry folder (else $LMCTUI_HOME, else ./lmc-runs)")
    parser.add_argument("--cpu-jobs", type=int, default=1, help="CPU jobs run at once (default 1)")


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmctui serve", description=(
        "Serve the app to a browser (textual-serve). Bound to this machine only; from elsewhere use "
        "`ssh -L 8000:localhost:8000 HOST` and open http://localhost:8000."))
    _common(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other than this machine: anyone who reaches it controls the app")
    return parser


def check_cpu_jobs(args: argparse.Namespace) -> None:
    if not 1 <= args.cpu_jobs <= 64:
        raise SystemExit("lmctui: error: --cpu-jobs must be from 1 to 64")


# -- serve ------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> None:
    """Run the web server until Ctrl-C; each browser tab gets its own `lmctui` process."""
    if args.host not in LOCAL_HOSTS and not args.allow_remote:
        raise SystemExit(f"lmctui: error: --host {args.host} is reachable from other machines; add --allow-remote "
                         "to mean it, or keep the default and use ssh -L")
    if not 1 <= args.port <= 65535:
        raise SystemExit("lmctui: error: --port must be from 1 to 65535")
    try:
        from textual_serve.server import Server
    except ImportError:
        raise SystemExit("lmctui: error: `lmctui serve` needs textual-serve: pip install 'lmctui[serve]'") from None
    if args.host not in LOCAL_HOSTS:
        say(f"lmctui: warning: serving on {args.host}: anyone who can reach port {args.port} controls this app "
            "and its registry. Prefer the default 127.0.0.1 with ssh -L.")
    command = app_command(args.home, args.cpu_jobs)
    say(f"lmctui: serving on http://{_url_host(args.host)}:{args.port} (Ctrl-C stops); from another machine: "
        f"ssh -L {args.port}:localhost:{args.port} {_hostname()}")
    Server(command, host=args.host, port=args.port, title="lmctui").serve()


def app_command(home: str | None, cpu_jobs: int) -> str:
    """The shell command textual-serve starts for each browser tab: this Python, this home."""
    from lmctui.service.catalog import resolve_home

    home_path = resolve_home(home).resolve()
    return " ".join(shlex.quote(part) for part in (sys.executable, "-m", "lmctui.tui.app", "--home", str(home_path),
                                                   "--cpu-jobs", str(cpu_jobs)))


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _hostname() -> str:
    import socket

    return socket.gethostname()


# -- the demo -----------------------------------------------------------------------------
def make_demo(home: str | None) -> None:
    """Train the demo registry on first use, saying what happens as it happens."""
    try:
        from lmctui.service.catalog import open_registry

        registry = open_registry(home)
        if registry.all("runs"):
            return
        say(f"lmctui: first use: training a few toy networks into {registry.home} (about a minute on a CPU)")
        from lmctui.service.training import ensure_demo

        progress = DemoProgress()
        trained = ensure_demo(registry, on_event=progress.event, on_step=progress.step)
        progress.done()
        runs, curves = registry.all("runs"), registry.all("curves")
        partners = len(runs) - trained
        say(f"lmctui: {len(runs)} demo runs ready ({trained} trained"
            + (f", {partners} weight-matched partners" if partners else "") + f") and {len(curves)} curves")
    except UserError as err:
        say(f"lmctui: error: {err}")
        raise SystemExit(2) from None


class DemoProgress:
    """One line per step; while training, the epoch (redrawn in place on a terminal,
    a line every few seconds otherwise)."""

    EVERY_SECONDS = 3.0

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = 0.0
        self.open_line = False

    def step(self, text: str) -> None:
        self._end_line()
        print(f"lmctui:   {text} ...", file=self.stream, flush=True)

    def event(self, run_id: str, event) -> None:
        epoch, epochs = getattr(event, "epoch", None), getattr(event, "epochs", None)
        if epoch is None or epochs is None:
            return  # a step inside an epoch: the epoch line is enough
        acc = getattr(event, "test_acc", None)
        line = f"lmctui:     run {run_id} epoch {epoch}/{epochs}" + (f", test acc {acc:.3f}" if acc is not None else "")
        if self.tty:
            print(f"\r{line}\x1b[K", end="", file=self.stream, flush=True)
            self.open_line = True
        elif time.monotonic() - self.last >= self.EVERY_SECONDS or epoch == epochs:
            self.last = time.monotonic()
            print(line, file=self.stream, flush=True)

    def done(self) -> None:
        self._end_line()

    def _end_line(self) -> None:
        if self.open_line:
            print(file=self.stream, flush=True)
            self.open_line = False
