"""`lmctui`: the Textual workbench. Screens draw the service's snapshots; jobs run in worker threads.

The app imports only the service and presentation modules. Torch is never imported
at start-up: only the worker threads that run jobs (and the decision-region view)
import it, when work starts. Storage is read off the UI thread.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches

from lmctui.errors import FieldError, UserError, WorkFailed
from lmctui.tui.commands import LmcCommands
from lmctui.tui.messages import RegistryChanged

# How often the watcher asks the file system whether the registry changed (a few stat
# calls): what `lmctui-cli worker` in another process writes shows within this.
POLL_SECONDS = 0.25


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
        self._wake = threading.Event()  # set to make the watcher look now
        self._watch_stop = threading.Event()
        self._job_status: dict[str, str] | None = None  # what the last snapshot said, to notice failures
        self.first_runs_at: float | None = None  # time.time() of the frame that first showed runs (benchmarks)

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
            views = Views(registry)
            snapshot = views.first_snapshot()  # the first frame's data: the newest runs; the watcher reads the rest
        except UserError as err:
            self.call_from_thread(self.show_registry_error, str(err))
            return
        self.call_from_thread(self._opened, registry, jobs, views, snapshot)

    def _opened(self, registry, jobs, views, snapshot) -> None:
        self.registry, self.jobs, self.views = registry, jobs, views
        self._arrived(snapshot)
        self._start_watching(snapshot)

    def _start_watching(self, shown, tries: int = 100) -> None:
        """Start the watcher once the first snapshot's runs are drawn (or after `tries` looks, 20 ms
        apart): its first read of the whole registry would hold the interpreter while they are."""
        drawn = self._runs_drawn(shown)
        if not drawn and tries:
            self.set_timer(0.02, lambda: self._start_watching(shown, tries - 1))
            return
        self.call_after_refresh(self._watch_in_background, shown, drawn)  # after the frame that paints them

    def _runs_drawn(self, shown) -> bool:
        from lmctui.tui.screens.main import MainScreen

        try:
            return not shown.runs or any(isinstance(screen, MainScreen) and screen.shown is shown
                                         and screen.runs_table().row_count for screen in self.screen_stack)
        except NoMatches:
            return False

    def _watch_in_background(self, shown, drawn: bool) -> None:
        if shown.runs and drawn:
            self.first_runs_at = time.time()
        # A plain daemon thread, not a Textual worker: it lives as long as the app, and
        # waiting for the workers (tests do) must not wait for it.
        threading.Thread(target=self._watch, args=(shown,), daemon=True, name="lmctui-watch").start()
        if self.run_jobs:
            self.jobs.start_workers()

    # -- the watcher --------------------------------------------------------------------
    def _watch(self, shown) -> None:
        """Ask for a snapshot at once (the first one shown holds only the newest runs), then every
        POLL_SECONDS, or at once when poked; hand over only new ones.

        A snapshot costs a few `stat` calls when nothing changed, so an idle app stays idle.
        """
        last, wait = shown, 0.0
        while not self._watch_stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            wait = POLL_SECONDS
            if self._watch_stop.is_set():
                return
            try:
                snapshot = self.views.snapshot()
            except UserError as err:
                self.call_from_thread(self.show_registry_error, str(err))
                return
            except Exception:  # a file replaced under us: the next look tells
                continue
            if snapshot is not last:
                last = snapshot
                try:
                    self.call_from_thread(self._arrived, snapshot)
                except RuntimeError:  # the app has stopped
                    return

    def poke(self) -> None:
        """Look at the registry now rather than at the next tick."""
        self._wake.set()

    def _arrived(self, snapshot) -> None:
        """A new snapshot: the main screen draws it (even under another screen); failures notify."""
        from lmctui.tui.screens.main import MainScreen

        self._notify_failures(snapshot.jobs)
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                try:
                    screen.show(snapshot)
                except NoMatches:
                    pass  # still being composed: its on_mount draws the newest snapshot
        if not isinstance(self.screen, MainScreen):
            self.refresh_screen()  # a matrix or a curve in front re-reads (cached unless its tables changed)

    def _notify_failures(self, jobs: list[dict]) -> None:
        before, self._job_status = self._job_status, {j["id"]: j["status"] for j in jobs}
        if before is None:
            return  # failures from before the app started are in the Jobs pane, not news
        for job in jobs:
            if job["status"] == "failed" and before.get(job["id"]) != "failed":
                reason = (job.get("error") or "no reason recorded").splitlines()[0]
                self.notify(f"job {job['id']} failed: {reason}\n(Jobs pane, enter: the whole job)",
                            title=job.get("title") or "job failed", severity="error", timeout=12)

    def show_registry_error(self, message: str) -> None:
        from lmctui.tui.screens.dialogs import RegistryErrorScreen

        self.push_screen(RegistryErrorScreen(message))

    # -- jobs ---------------------------------------------------------------------------
    def submit(self, request, placement=None) -> dict | None:
        """Queue a request on `placement` (None: the local queue); a refusal is a notification, never an
        exception. Blocking (it writes the registry, sbatch waits for Slurm): the app calls it from
        `submit_all`'s thread."""
        try:
            job = self.jobs.submit(request, placement)
        except FieldError as err:
            self.notify(err.worded(err.field.replace("_", " ")), severity="error")
            return None
        except (UserError, WorkFailed) as err:
            self.notify(str(err), severity="error")
            return None
        where = f" on Slurm as {job['slurm_job_id']}" if job.get("slurm_job_id") else ""
        self.notify(f"queued {job['title']} (job {job['id']}){where}")
        self.poke()
        return job

    @work(thread=True, group="submit")
    def submit_all(self, requests: list, executor: str = "local", options: dict | None = None) -> None:
        """Submit a form's requests off the UI thread, to the placement named `executor` with the form's
        options (for Slurm laid over the home's `cluster.json`); the app queues, it never waits."""
        from lmctui.service.placements import choose

        try:
            placement = choose(executor, self.home, background=True, **(options or {}))
        except UserError as err:
            self.notify(str(err), severity="error")
            return
        for request in requests:
            self.submit(request, placement)

    @work(thread=True, group="job-action")
    def job_action(self, what: str, job_id: str) -> None:
        """Cancel or re-queue a job off the UI thread (scancel and sbatch wait for Slurm); a refusal
        is a notification."""
        try:
            job = self.jobs.cancel(job_id) if what == "cancel" else self.jobs.requeue(job_id)
        except (UserError, WorkFailed) as err:
            self.notify(str(err), severity="error")
            return
        self.notify(f"job {job['id']}: {job['status']}{' (stopping)' if job.get('cancel_requested') else ''}")
        self.poke()

    def running_here(self) -> list[dict]:
        return self.jobs.running_here() if self.jobs else []

    def queue_missing_pairs(self, matrix: dict) -> int:
        """Queue (in the background) an interpolation for each pair of `matrix` without curves;
        refuse, saying why, the pairs that cannot be compared. Returns how many it queues."""
        from lmctui.service.requests import InterpRequest

        refused = matrix.get("incompatible", {})
        missing = [pair for pair, c in matrix["cells"].items()
                   if (c["naive"] is None or c["aligned"] is None) and pair not in refused]
        if refused:
            first = next(iter(refused.values()))
            self.notify(f"{len(refused)} pair(s) cannot be compared and were not queued: {first}"
                        + (" (and more: see the matrix)" if len(refused) > 1 else ""), severity="warning", timeout=12)
        self.submit_all([InterpRequest(a, b) for a, b in missing])
        return len(missing)

    def on_registry_changed(self, message: RegistryChanged) -> None:
        self.poke()

    def refresh_screen(self) -> None:
        """Re-read what the current screen shows (it reads in a worker thread)."""
        refresh = getattr(self.screen, "refresh_data", None)
        if refresh is not None and self.views is not None:
            try:
                refresh()
            except NoMatches:
                pass  # the screen is still being composed; its on_mount reads

    # -- actions ------------------------------------------------------------------------
    def _main(self):
        """The main screen when it is the one in front (the command palette aside), else None."""
        from textual.command import CommandPalette

        from lmctui.tui.screens.main import MainScreen

        stack = [s for s in self.screen_stack if not isinstance(s, CommandPalette)]
        return stack[-1] if stack and isinstance(stack[-1], MainScreen) else None

    def _selected(self, at_least: int, what: str) -> list[str] | None:
        main = self._main()
        ids = main.runs_table().selected_or_cursor() if main else []
        if len(ids) < at_least:
            self.notify(f"{what}: select at least {at_least} runs with space", severity="warning")
            return None
        return ids

    def _form(self, form) -> None:
        def submitted(submission) -> None:
            if submission is not None:
                self.submit_all(submission.requests, submission.executor, submission.cluster_options)

        self.push_screen(form, submitted)

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

    def action_main(self, action: str) -> None:
        """Run a main-screen action (from the command palette); elsewhere say where it works."""
        main = self._main()
        if main is None:
            self.notify("this works on the main screen: esc goes back to it", severity="warning")
            return
        self.call_later(main.run_action, action)

    def action_help(self) -> None:
        from lmctui.tui.screens.help import HelpScreen
        from lmctui.tui.screens.main import MainScreen

        self.push_screen(HelpScreen(self.BINDINGS + MainScreen.BINDINGS))

    def action_request_quit(self) -> None:
        running = self.running_here()
        if not running:
            self._stop_and_exit()
            return
        from lmctui.tui.screens.dialogs import ConfirmScreen

        question = f"{len(running)} job(s) are running here. Quit and mark them interrupted? Queued jobs stay queued."
        self.push_screen(ConfirmScreen(question), lambda yes: self._stop_and_exit() if yes else None)

    def _stop_and_exit(self) -> None:
        self._watch_stop.set()
        self._wake.set()
        self.stop_job_workers()
        self.exit()

    def stop_job_workers(self) -> None:
        """Running jobs stop at their next batch (marked interrupted); the threads end."""
        if self.jobs is not None:
            self.jobs.stop_workers()

    def on_unmount(self) -> None:
        self._watch_stop.set()
        self._wake.set()
        self.stop_job_workers()
        for thread in self.jobs.threads if self.jobs else []:
            thread.join(30)  # the running job marks itself interrupted before the process ends


def make_app(home: str | Path | None = None, cpu_slots: int = 1, run_jobs: bool = True) -> LmcApp:
    from lmctui.service.catalog import resolve_home

    return LmcApp(resolve_home(home), cpu_slots, run_jobs)


def main(argv: list[str] | None = None) -> None:
    """`lmctui [--home PATH] [--cpu-jobs N] [--demo]`, or `lmctui serve [--host] [--port]`."""
    from lmctui.tui import launch

    args = launch.parse(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        launch.serve(args)
        return
    if args.demo:
        launch.make_demo(args.home)
    make_app(args.home, args.cpu_jobs).run()


if __name__ == "__main__":
    main()
