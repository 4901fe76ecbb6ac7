"""How a CLI command runs a request and ends: placement, signals, errors as exit codes.

`run_request` is the one path of every working command: open the registry, turn the
user's `--executor` / `--queue` / cluster options into a placement, call
`service.run.run`, and render what came back (the result, the job queued, the jobs
submitted). `command` turns errors into exit codes and one line on stderr.
"""

from __future__ import annotations

import contextlib
import functools
import signal
from typing import Callable

import typer

from lmctui.cli_options import PlacementChoice, flag
from lmctui.cli_output import emit_json, message
from lmctui.errors import FieldError, UserError, WorkFailed


def registry_at(home):
    from lmctui.service.catalog import open_registry

    return open_registry(home)


def run_request(request, choice: PlacementChoice, home, as_json: bool, render: Callable[[dict], None],
                queue: bool = False, view=None, progress: dict | None = None) -> dict | None:
    """Run `request` where the user said and `render` its result; None when there is no result to
    render here (the job was queued, or submitted without waiting). A failure shows what did finish.

    `view` (a TrainProgress or StepProgress) draws `progress`, the use case's callbacks, when the
    work runs in this process."""
    from lmctui.service.run import run

    request.check_used()  # an option typed that the chosen methods do not read
    registry = registry_at(home)
    placement = choice.placement(registry.home, queue)
    signals_interrupt()
    runs_here = getattr(placement, "runs_here", False)
    here = view is not None and runs_here
    try:
        with view.running() if here else contextlib.nullcontext(), \
                stops_between_steps() if runs_here else contextlib.nullcontext():
            result = run(request, placement, registry, progress if here else None, ClusterWatch())
    except WorkFailed as err:
        if err.partial:
            render(err.partial)
        raise
    if "job" in result:
        job = result["job"]
        emit_json({"job": job}) if as_json else message(f"queued job {job['id']}: {job['title']}")
        return None
    if "jobs" in result:
        if as_json:
            emit_json({"jobs": result["jobs"]})
        return None
    render(result)
    return result


class ClusterWatch:
    """Says on stderr what a placement that runs work elsewhere submitted, and what changed while waiting."""

    def __init__(self):
        self.last: dict[str, str] = {}

    def submitted(self, docs: list[dict]) -> None:
        message("submitted to Slurm: " + ", ".join(f"job {d['id']} (Slurm {d['slurm_job_id']})" for d in docs))

    def tick(self, docs: list[dict]) -> None:
        for doc in docs:
            line = f"{doc.get('slurm_state') or doc['status']} {doc.get('message') or ''}".strip()
            if self.last.get(doc["id"]) != line:
                self.last[doc["id"]] = line
                message(f"[{doc.get('progress') or 0:4.0%}] job {doc['id']} (Slurm {doc.get('slurm_job_id')}): {line}")

    def stopped(self, err: KeyboardInterrupt) -> None:
        message("stopped waiting; the jobs go on on the cluster (lmctui-cli jobs shows them, --cancel stops them)")
        raise typer.Exit(stopped_code(err))


def command(func):
    """Turn errors into exit codes and one-line messages instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FieldError as err:
            fail(2, f"error: {err.worded(flag(err.field))}")
        except UserError as err:
            fail(2, f"error: {err}")
        except KeyboardInterrupt as err:
            fail(stopped_code(err), "interrupted" if stopped_code(err) == 130 else "terminated (SIGTERM)")
        except WorkFailed as err:
            fail(1, f"failed: {err}")
        except typer.Exit:
            raise
        except Exception as err:  # the last line of defence: no traceback for the user
            fail(1, f"failed: {type(err).__name__}: {err}")

    return wrapper


def fail(code: int, text: str):
    message(" ".join(str(text).split()))  # one line, always
    raise typer.Exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM in the foreground: it unwinds the work like Ctrl-C (so runs are marked interrupted),
    and the command exits 143 (128 + SIGTERM) like the worker does, not Ctrl-C's 130."""


def stopped_code(err: KeyboardInterrupt) -> int:
    """The exit status of a command stopped by a signal: 128 + its number."""
    return 128 + (signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT)


_asked: list[KeyboardInterrupt] = []  # the signal that asked the work running here to stop at its next step
_between_steps: list[bool] = []  # non-empty while work that asks `should_stop` between its steps runs here


def signals_interrupt() -> None:
    """Ctrl-C and a kill (SIGTERM) unwind the work, so the run is marked interrupted.

    Inside `stops_between_steps`, the first one asks the work to stop at its next step (a
    training keeps the batch it reached); a second one, or one outside, interrupts at once.
    SIGINT is set explicitly: a process started in the background inherits it ignored.
    """
    def handler(signum, frame):
        err = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if _between_steps and not _asked:
            _asked.append(err)
            return
        raise err

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@contextlib.contextmanager
def stops_between_steps():
    """Run the work inside with a stop check that turns true at the first Ctrl-C / SIGTERM; the
    work's `Cancelled` then ends the command as that signal does (exit 130 / 143)."""
    from lmctui.core.stopping import Cancelled
    from lmctui.service.stopping import stopping

    _asked.clear()
    _between_steps.append(True)
    try:
        with stopping(lambda: "interrupted" if _asked else None):
            yield
    except Cancelled:
        if _asked:
            raise _asked[0] from None
        raise
    finally:
        _between_steps.pop()


def run_pairs(template, run_ids: list[str], choice: PlacementChoice, home, as_json: bool, queue: bool, view,
              progress: dict) -> None:
    """`interp RUNS... --all-pairs`: one request per pair that lacks a curve, where the user said.
    Pairs that cannot be compared are named in one line and left; the rest are done."""
    from lmctui.cli_render import pair_curves
    from lmctui.service.pairs import pending_pairs
    from lmctui.service.run import run

    template.validate()
    if len(run_ids) < 2:
        raise FieldError("runs", f"--all-pairs needs two or more runs, got {len(run_ids)}")
    template.check_used()
    registry = registry_at(home)
    requests, refused, done = pending_pairs(registry, run_ids, template)
    placement = choice.placement(registry.home, queue)
    if refused:
        message(f"not comparable, left out: {len(refused)} pair(s): {', '.join(refused[:6])}"
                + (" ..." if len(refused) > 6 else ""))
    signals_interrupt()
    here = getattr(placement, "runs_here", False)
    made: dict = {"curves": [], "jobs": []}
    with view.running() if here else contextlib.nullcontext(), \
            stops_between_steps() if here else contextlib.nullcontext():
        for request in requests:
            result = run(request, placement, registry, progress if here else None, ClusterWatch())
            made["curves"] += result.get("curves", [])
            made["jobs"] += [result["job"]] if "job" in result else result.get("jobs", [])
    pair_curves({**made, "refused": refused, "already_stored": done}, as_json)
