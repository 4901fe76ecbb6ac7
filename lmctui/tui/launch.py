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


class OneLineParser(argparse.ArgumentParser):
    """argparse that refuses bad input as every lmctui command does: one line, exit 2."""

    def error(self, message: str):
        say(f"{self.prog}: error: {message} (see {self.prog} --help)")
        raise SystemExit(2)


def parse(argv: list[str]) -> argparse.Namespace:
    if argv[:1] == ["serve"]:
        parser = _serve_parser()
        args = parser.parse_args(argv[1:], argparse.Namespace(command="serve"))
    else:
        parser = OneLineParser(prog="lmctui", description="Terminal workbench for linear mode connectivity. "
                               "`lmctui serve --help`: the same app in a browser.")
        _common(parser)
        parser.add_argument("--demo", action="store_true",
                            help="train a few toy networks first if the registry is empty")
        args = parser.parse_args(argv, argparse.Namespace(command="app"))
    check(parser, args)
    return args


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="registry folder (else $LMCTUI_HOME, else ./lmc-runs)")
    parser.add_argument("--cpu-jobs", type=int, default=1, help="CPU jobs run at once (default 1)")


def _serve_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="lmctui serve", description=(
        "Serve the app to a browser (textual-serve). Bound to this machine only, and only to whoever has "
        "the token in the printed URL; from elsewhere use `ssh -L 8000:localhost:8000 HOST` and open the "
        "printed URL."))
    _common(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--public-url", help="the address the browser uses, when it differs (ssh -L 9000:localhost:"
                        "8000 HOST: --public-url http://localhost:9000)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other than this machine: anyone who reaches it and has the token "
                             "controls the app")
    return parser


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before anything starts, what the arguments alone can tell is wrong."""
    if not 1 <= args.cpu_jobs <= 64:
        parser.error("--cpu-jobs must be from 1 to 64")
    try:
        _check_home(args.home)
        if args.command == "serve":
            _check_serve(args)
    except UserError as err:
        parser.error(str(err))


def _check_home(home: str | None) -> None:
    from lmctui.service.catalog import open_registry, resolve_home

    path = resolve_home(home)  # refuses an empty --home
    if path.exists() or path.is_symlink():
        open_registry(home)  # a file, a corrupt or newer registry: refused now, not in the app


def _check_serve(args: argparse.Namespace) -> None:
    import ipaddress

    if args.host != "localhost":
        try:
            ipaddress.ip_address(args.host)
        except ValueError:
            raise UserError(f"--host must be an IP address (such as 127.0.0.1) or localhost, got {args.host!r}") from None
    if args.host not in LOCAL_HOSTS and not args.allow_remote:
        raise UserError(f"--host {args.host} is reachable from other machines; add --allow-remote to mean it, "
                        "or keep the default and use ssh -L")
    if not 1 <= args.port <= 65535:
        raise UserError(f"--port must be from 1 to 65535, got {args.port}")
    args.public_url = _public_url(args.public_url, args.host, args.port)
    _check_bindable(args.host, args.port)


def _public_url(given: str | None, host: str, port: int) -> str:
    from urllib.parse import urlsplit

    if given is None:
        return f"http://{_url_host(host)}:{port}"
    try:
        parts = urlsplit(given)
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.path.strip("/") or any(c.isspace() or ord(c) < 32 for c in given):
        raise UserError(f"--public-url must look like http://localhost:9000 (no path), got {given!r}")
    return given.rstrip("/")


def _check_bindable(host: str, port: int) -> None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise UserError(f"cannot serve on {host} port {port}: {err.strerror}") from None


# -- serve ------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> None:
    """Run the web server until Ctrl-C; each browser tab gets its own `lmctui` process."""
    try:
        from lmctui.tui.web_server import TokenServer
    except ImportError:
        say("lmctui serve: error: `lmctui serve` needs textual-serve: pip install 'lmctui[serve]'")
        raise SystemExit(2) from None
    if args.host not in LOCAL_HOSTS:
        say(f"lmctui: warning: serving on {args.host}: anyone who can reach port {args.port} and has the token "
            "controls this app and its registry. Prefer the default 127.0.0.1 with ssh -L.")
    server = TokenServer(app_command(args.home, args.cpu_jobs), args.host, args.port, args.public_url)
    from urllib.parse import urlsplit

    local_port = urlsplit(args.public_url).port or args.port
    say(f"lmctui: serving on {server.url} (Ctrl-C stops; the token lets in only you); from another machine: "
        f"ssh -L {local_port}:localhost:{args.port} {_hostname()}")
    server.serve()


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
