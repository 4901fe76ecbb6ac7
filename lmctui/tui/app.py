"""`lmctui`: the Textual workbench. Screens read the registry; jobs run in worker threads.

Torch is never imported at start-up: only the worker threads that run jobs (and the
decision-region view) import it, when work starts.
"""

from __future__ import annotations

import argparse
import sys
import threading
from functools import partial
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Provider
from textual.css.query import NoMatches

from lmctui.errors import UserError
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
        self.registry = None
        self.job_queue = None
        self.workers_: list = []
        self._stop = threading.Event()

    def on_mount(self) -> None:
        from lmctui.jobs.queue import JobQueue
        from lmctui.service.catalog import open_registry

        try:
            self.registry = open_registry(self.home)
        except UserError as err:
            self.show_registry_error(str(err))
            return
        self.job_queue = JobQueue(self.registry)
        from lmctui.tui.screens.main import MainScreen

        self.push_screen(MainScreen())
        self.set_interval(REFRESH_SECONDS, self.refresh_screen)
        if self.run_jobs:
            self.start_job_workers()

    def show_registry_error(self, message: str) -> None:
        from lmctui.tui.screens.dialogs import RegistryErrorScreen

        self.push_screen(RegistryErrorScreen(message))

    # -- jobs ---------------------------------------------------------------------------
    def start_job_workers(self) -> None:
        from lmctui.jobs.worker import DevicePolicy, Worker

        policy = DevicePolicy(cpu_slots=self.cpu_slots, cuda_available=_cuda_devices)
        for i in range(self.cpu_slots):
            worker = Worker(self.job_queue, self._execute, policy, f"tui-{i}",
                            on_change=lambda: self.post_message(RegistryChanged()))
            self.workers_.append(worker)
            self.run_worker(partial(worker.run_until, self._stop), thread=True, group="jobs", name=f"jobs-{i}")

    def _execute(self, job, should_stop, on_progress):
        from lmctui.service.jobs import execute  # torch arrives here, in the worker thread

        return execute(self.registry, job, should_stop, on_progress)

    def submit(self, kind: str, params: dict, title: str) -> dict:
        job = self.job_queue.submit(kind, params, "auto", title)
        self.notify(f"queued {title} (job {job['id']})")
        self.refresh_screen()
        return job

    def cancel_job(self, job_id: str) -> dict:
        for worker in self.workers_:
            worker.local_cancel.add(job_id)
        return self.job_queue.cancel(job_id)

    def running_here(self) -> list[dict]:
        names = {w.name for w in self.workers_}
        return [j for j in self.registry.all("jobs") if j["status"] == "running" and j.get("worker") in names] \
            if self.registry else []

    def queue_missing_pairs(self, run_ids: list[str]) -> int:
        from lmctui.service.views import pairwise_matrix

        cells = pairwise_matrix(self.registry, run_ids)["cells"]
        missing = [(a, b) for (a, b), c in cells.items() if c["naive"] is None or c["aligned"] is None]
        for a, b in missing:
            self.submit("interp", {"run_a": a, "run_b": b, "methods": ["naive", "weight"]}, f"interp {a} {b}")
        return len(missing)

    # -- refresh ------------------------------------------------------------------------
    def on_registry_changed(self, message: RegistryChanged) -> None:
        self.refresh_screen()

    def refresh_screen(self) -> None:
        refresh = getattr(self.screen, "refresh_data", None)
        if refresh is not None and self.registry is not None:
            try:
                refresh()
            except NoMatches:
                pass  # the screen is still being composed; the next tick draws it
            except UserError as err:
                self.show_registry_error(str(err))

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

    def action_new_training(self) -> None:
        from lmctui.tui.screens.forms import TrainForm

        def queue(result):
            for params in (result or {}).get("jobs", []):
                title = f"train {params['data']['name']} {params['arch']} w{params['width']} seeds {params['seeds']}"
                self.submit("train", params, title)

        self.push_screen(TrainForm(), queue)

    def _pair_form(self, kind: str) -> None:
        from lmctui.tui.screens.forms import PairForm

        ids = self._selected(2, kind)
        if ids:
            self.push_screen(PairForm(ids[0], ids[1], kind), self._submit_form)

    def action_interpolate(self) -> None:
        self._pair_form("interp")

    def action_align(self) -> None:
        self._pair_form("align")

    def action_average(self) -> None:
        from lmctui.tui.screens.forms import AverageForm

        ids = self._selected(2, "average")
        if ids:
            self.push_screen(AverageForm(ids), self._submit_form)

    def action_sweep(self) -> None:
        from lmctui.tui.screens.forms import SweepForm

        self.push_screen(SweepForm(), self._submit_form)

    def _submit_form(self, result) -> None:
        if result:
            params = result["params"]
            what = params.get("runs") or [params.get("run_a"), params.get("run_b")] if result["kind"] != "sweep" \
                else [f"{params['dataset']} widths {params['values']}"]
            self.submit(result["kind"], params, f"{result['kind']} {' '.join(map(str, what))}")

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
        self._stop.set()
        for worker in self.workers_:
            worker.stopping.set()

    def on_unmount(self) -> None:
        self.stop_job_workers()


def _cuda_devices() -> list[str]:
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def make_app(home: str | Path | None = None, cpu_slots: int = 1, run_jobs: bool = True) -> LmcApp:
    from lmctui.store import resolve_home

    return LmcApp(resolve_home(home), cpu_slots, run_jobs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lmctui", description="Terminal workbench for linear mode connectivity.")
    parser.add_argument("--home", help="registry folder (else $LMCTUI_HOME, else ./lmc-runs)")
    parser.add_argument("--demo", action="store_true", help="train a few toy networks first if the registry is empty")
    parser.add_argument("--cpu-jobs", type=int, default=1, help="CPU jobs run at once (default 1)")
    args = parser.parse_args(argv)
    if args.cpu_jobs < 1:
        parser.error("--cpu-jobs must be at least 1")
    if args.demo:
        _make_demo(args.home)
    make_app(args.home, args.cpu_jobs).run()


def _make_demo(home: str | None) -> None:
    try:
        from lmctui.service.catalog import open_registry

        registry = open_registry(home)
        if registry.all("runs"):
            return
        print(f"lmctui: training a few toy networks into {registry.home} (first use only) ...", file=sys.stderr)
        from lmctui.service.training import ensure_demo

        made = ensure_demo(registry)
        print(f"lmctui: {made} demo runs ready", file=sys.stderr)
    except UserError as err:
        print(f"lmctui: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
