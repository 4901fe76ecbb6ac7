"""`lmctui`: the Textual workbench. Screens draw the service's snapshots; jobs run in worker threads.

The app imports only the service and presentation modules. Torch is never imported
at start-up: only the worker threads that run jobs (and the decision-region view)
import it, when work starts. Storage is read off the UI thread.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Provider
from textual.css.query import NoMatches

from lmctui.errors import FieldError, UserError
from lmctui.tui.messages import RegistryChanged

REFRESH_SECONDS = 1.0  # also picks up what `lmctui-cli worker` in another process did

ACTIONS = [  # (action, title, help): the command palette and the help screen list these
    ("new_training", "New training", "train a width x seed grid (n)"),
    ("interpolate", "Interpolate selected pair", "loss and accuracy along the line, naive and aligned (i)"),
    ("align", "Align selected pair", "permute the second run to match the first (a)"),
    ("average", "Average selected runs", "naive, weight, activation or MergeMany (v)"),
    ("pairwise", "Pairwise barriers of selection", "matrix of barriers over all selected pairs (p)"),
    ("sweep", "Width sweep", "train seeds per width and measure every pair (w)"),
    ("regions", "Decision regions", "2-D toy runs: the regions, and along the line to a second run (d)"),
    ("help", "Help", "every key (?)"),
]


class LmcCommands(Provider):
    async def discover(self):
        for action, title, text in ACTIONS:
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=text)

    async def search(self, query: str):
        matcher = self.matcher(query)
        for action, title, text in ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action), help=text)


class LmcApp(App):
    TITLE = "lmctui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {LmcCommands}
    BINDINGS = [
        Binding("q", "request_quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+p", "command_palette", "Commands", show=False),
    ]

    def __init__(self, home: Path, cpu_slots: int = 1, run_jobs: bool = True):
        super().__init__()
        self.home = home
        self.sub_title = str(home)
        self.cpu_slots = cpu_slots
        self.run_jobs = run_jobs
        self.registry = None  # set once opened (off the UI thread)
        self.jobs = None  # the service's job facade
        self.views = None  # the service's read snapshots

    def on_mount(self) -> None:
        from lmctui.tui.screens.main import MainScreen

        self.push_screen(MainScreen())
        self._open_registry()

    @work(thread=True, exclusive=True, group="open")
    def _open_registry(self) -> None:
        from lmctui.service.catalog import open_registry
        from lmctui.service.jobs import Jobs
        from lmctui.service.views import Views

        try:
            registry = open_registry(self.home)
            jobs = Jobs(registry, self.cpu_slots, name="tui", on_change=lambda: self.post_message(RegistryChanged()))
        except UserError as err:
            self.call_from_thread(self.show_registry_error, str(err))
            return
        self.call_from_thread(self._opened, registry, jobs, Views(registry))

    def _opened(self, registry, jobs, views) -> None:
        self.registry, self.jobs, self.views = registry, jobs, views
        self.refresh_screen()
        self.set_interval(REFRESH_SECONDS, self.refresh_screen)
        if self.run_jobs:
            jobs.start_workers()

    def show_registry_error(self, message: str) -> None:
        from lmctui.tui.screens.dialogs import RegistryErrorScreen

        self.push_screen(RegistryErrorScreen(message))

    # -- jobs ---------------------------------------------------------------------------
    def submit(self, request) -> dict | None:
        """Queue a request; a refusal is a notification, never an exception."""
        try:
            job = self.jobs.submit(request)
        except FieldError as err:
            self.notify(err.worded(err.field.replace("_", " ")), severity="error")
            return None
        except UserError as err:
            self.notify(str(err), severity="error")
            return None
        self.notify(f"queued {job['title']} (job {job['id']})")
        self.refresh_screen()
        return job

    def running_here(self) -> list[dict]:
        return self.jobs.running_here() if self.jobs else []

    def queue_missing_pairs(self, run_ids: list[str]) -> int:
        from lmctui.service.requests import InterpRequest

        cells = self.views.pairwise(run_ids)["cells"]
        missing = [(a, b) for (a, b), c in cells.items() if c["naive"] is None or c["aligned"] is None]
        return sum(self.submit(InterpRequest(a, b)) is not None for a, b in missing)

    # -- refresh ------------------------------------------------------------------------
    def on_registry_changed(self, message: RegistryChanged) -> None:
        self.refresh_screen()

    def refresh_screen(self) -> None:
        refresh = getattr(self.screen, "refresh_data", None)
        if refresh is not None and self.views is not None:
            try:
                refresh()
            except NoMatches:
                pass  # the screen is still being composed; the next tick draws it

    # -- actions ------------------------------------------------------------------------
    def _main(self):
        from lmctui.tui.screens.main import MainScreen

        screen = self.screen
        return screen if isinstance(screen, MainScreen) else None

    def _selected(self, at_least: int, what: str) -> list[str] | None:
        main = self._main()
        ids = main.runs_table().selected_or_cursor() if main else []
        if len(ids) < at_least:
            self.notify(f"{what}: select at least {at_least} runs with space", severity="warning")
            return None
        return ids

    def _form(self, form) -> None:
        self.push_screen(form, lambda requests: [self.submit(r) for r in requests or []])

    def action_new_training(self) -> None:
        from lmctui.tui.screens.forms import TrainForm

        self._form(TrainForm())

    def _pair_form(self, kind: str) -> None:
        from lmctui.tui.screens.forms import PairForm

        ids = self._selected(2, kind)
        if ids:
            self._form(PairForm(ids[0], ids[1], kind))

    def action_interpolate(self) -> None:
        self._pair_form("interp")

    def action_align(self) -> None:
        self._pair_form("align")

    def action_average(self) -> None:
        from lmctui.tui.screens.forms import AverageForm

        ids = self._selected(2, "average")
        if ids:
            self._form(AverageForm(ids))

    def action_sweep(self) -> None:
        from lmctui.tui.screens.forms import SweepForm

        self._form(SweepForm())

    def action_pairwise(self) -> None:
        from lmctui.tui.screens.pairwise import PairwiseScreen

        ids = self._selected(2, "pairwise")
        if ids:
            self.push_screen(PairwiseScreen(ids))

    def action_regions(self) -> None:
        from lmctui.tui.screens.regions import RegionsScreen

        ids = self._selected(1, "regions")
        if ids:
            self.push_screen(RegionsScreen(ids[0], ids[1] if len(ids) > 1 else None))

    def action_help(self) -> None:
        from lmctui.tui.screens.help import HelpScreen
        from lmctui.tui.screens.main import MainScreen

        keys = [(b.key, b.description) for b in self.BINDINGS + MainScreen.BINDINGS]
        self.push_screen(HelpScreen(keys))

    def action_request_quit(self) -> None:
        running = self.running_here()
        if not running:
            self._stop_and_exit()
            return
        from lmctui.tui.screens.dialogs import ConfirmScreen

        question = f"{len(running)} job(s) are running here. Quit and mark them interrupted? Queued jobs stay queued."
        self.push_screen(ConfirmScreen(question), lambda yes: self._stop_and_exit() if yes else None)

    def _stop_and_exit(self) -> None:
        self.stop_job_workers()
        self.exit()

    def stop_job_workers(self) -> None:
        """Running jobs stop at their next batch (marked interrupted); the threads end."""
        if self.jobs is not None:
            self.jobs.stop_workers()

    def on_unmount(self) -> None:
        self.stop_job_workers()
        for thread in self.jobs.threads if self.jobs else []:
            thread.join(30)  # the running job marks itself interrupted before the process ends


def make_app(home: str | Path | None = None, cpu_slots: int = 1, run_jobs: bool = True) -> LmcApp:
    from lmctui.service.catalog import resolve_home

    return LmcApp(resolve_home(home), cpu_slots, run_jobs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lmctui", description="Terminal workbench for linear mode connectivity.")
    parser.add_argument("--home", help="registry folder (else $LMCTUI_HOME, else ./lmc-runs)")
    parser.add_argument("--demo", action="store_true", help="train a few toy networks first if the registry is empty")
    parser.add_argument("--cpu-jobs", type=int, default=1, help="CPU jobs run at once (default 1)")
    args = parser.parse_args(argv)
    if not 1 <= args.cpu_jobs <= 64:
        parser.error("--cpu-jobs must be from 1 to 64")
    if args.demo:
        _make_demo(args.home)
    make_app(args.home, args.cpu_jobs).run()


def _make_demo(home: str | None) -> None:
    try:
        from lmctui.service.catalog import open_registry

        registry = open_registry(home)
        if registry.all("runs"):
            return
        say = partial(print, file=sys.stderr, flush=True)
        say(f"lmctui: first use: training a few toy networks into {registry.home} (seconds to a minute)")
        from lmctui.service.training import ensure_demo

        made = ensure_demo(registry, on_step=lambda text: say(f"lmctui:   {text} ..."))
        say(f"lmctui: {made} demo runs trained; their weight-matched partners and curves are stored too")
    except UserError as err:
        print(f"lmctui: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
