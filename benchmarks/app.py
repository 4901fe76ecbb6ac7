"""The app against registry size (issue 10): the real `lmctui` in tmux at 80x24.

For N runs (plus N/10 curves, written with `Registry.insert_many`):
- first frame with runs: from starting the process to the status line "N runs" on screen;
- idle CPU: the app process's CPU time (/proc/PID/stat, its job workers included) over
  10 s with nothing changing, as a share of one core;
- a new run from another process: from `insert` returning to "N+1 runs" on screen.

    python -c "from benchmarks.app import bench_app; print(bench_app())"
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (100, 1_000, 10_000)
IDLE_SECONDS = 10.0
SESSION = "lmctui-bench"


def run_doc(seed: int, width: int) -> dict:
    return {"kind": "trained", "status": "done", "dataset": "moons", "arch": "mlp", "width": width, "depth": 1,
            "norm": "none", "seed": seed, "init_seed": seed, "data_seed": seed, "optimizer": "sgd", "lr": 0.05,
            "batch_size": 64, "epochs": 10, "epochs_done": 10, "test_acc": 0.95, "test_loss": 0.1,
            "train_loss": 0.08, "train_acc": 0.95, "tags": ["bench"], "seconds": 1.0, "device": "cpu",
            "config": {"data": {"name": "moons", "n_samples": 1000, "noise": 0.1},
                       "model": {"arch": "mlp", "width": width, "depth": 1, "norm": "none", "input_shape": [2],
                                 "num_classes": 2},
                       "train": {"epochs": 10, "lr": 0.05, "optimizer": "sgd", "momentum": 0.9,
                                 "weight_decay": 0.0, "batch_size": 64, "schedule": "constant"}}}


def curve_doc(run_a: str, run_b: str, width: int) -> dict:
    alpha = [i / 24 for i in range(25)]
    bump = [0.2 * (1 - abs(2 * a - 1)) for a in alpha]
    return {"run_a": run_a, "run_b": run_b, "method": "naive", "dataset": "moons", "arch": "mlp", "width": width,
            "depth": 1, "points": 25, "alpha": alpha, "train_loss": bump, "test_loss": bump,
            "train_acc": [0.95 - b for b in bump], "test_acc": [0.95 - b for b in bump], "loss_barrier_train": 0.2,
            "loss_barrier_test": 0.2, "error_barrier_train": 0.05, "error_barrier_test": 0.05}


def build(home: Path, runs: int) -> None:
    from lmctui.store import Registry

    registry = Registry(home)
    widths = (8, 16, 32, 64)
    made = []
    for start in range(0, runs, 1000):
        docs = [run_doc(i, widths[i % 4]) for i in range(start, min(runs, start + 1000))]
        made += [d["id"] for d in registry.insert_many("runs", docs)]
    registry.insert_many("curves", [curve_doc(made[i], made[i + 1], widths[i % 4]) for i in range(0, runs // 5 * 2, 2)])


def _tmux(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)


def _screen() -> str:
    return _tmux("capture-pane", "-p", "-t", SESSION).stdout


def _wait_for(text: str, seconds: float) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if text in _screen():
            return time.perf_counter() - start
        time.sleep(0.02)
    return None


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _app_pid() -> int:
    pane = int(_tmux("display", "-p", "-t", SESSION, "#{pane_pid}").stdout.strip())
    children = subprocess.run(["pgrep", "-P", str(pane)], capture_output=True, text=True).stdout.split()
    return int(children[0]) if children else pane  # the shell may have exec'd the app


def measure(runs: int, log=print) -> dict:
    """One size: build a home, start the app in tmux, time it, stop it."""
    from lmctui.store import Registry

    home = Path(tempfile.mkdtemp(prefix=f"lmctui-bench-app-{runs}-"))
    try:
        build(home, runs)
        lmctui = Path(sys.executable).with_name("lmctui")
        command = f"{lmctui if lmctui.exists() else sys.executable + ' -m lmctui.tui.app'} --home {home}"
        _tmux("kill-session", "-t", SESSION)
        start = time.perf_counter()
        _tmux("new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", command)
        shown = _wait_for(f"{runs} runs |", 120)
        first_frame = None if shown is None else time.perf_counter() - start
        pid = _app_pid()
        time.sleep(2.0)  # start-up work (imports, the orphan check) is not idling
        cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
        time.sleep(IDLE_SECONDS)
        idle = (_cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)
        Registry(home).insert("runs", run_doc(runs, 16))
        new_run = _wait_for(f"{runs + 1} runs |", 30)
        row = {"runs": runs, "first_frame_s": first_frame, "idle_cpu_fraction": idle, "new_run_shown_s": new_run}
        log(f"app, {runs} runs: first frame {first_frame and round(first_frame, 2)} s, idle CPU {idle:.1%}, "
            f"new run shown after {new_run and round(new_run, 2)} s")
        return row
    finally:
        _tmux("kill-session", "-t", SESSION)
        shutil.rmtree(home, ignore_errors=True)


def bench_app(quick: bool = False, log=print, sizes=SIZES, repeats: int | None = None) -> list[dict]:
    """Median of `repeats` (3, or 1 when quick) per size; [] without tmux."""
    if shutil.which("tmux") is None:
        log("app benchmark skipped: tmux is not installed")
        return []
    repeats = repeats or (1 if quick else 3)
    rows = []
    for runs in sizes:
        tries = [measure(runs, log) for _ in range(repeats)]
        rows.append({"name": f"app at 80x24, {runs} runs", "runs": runs,
                     **{key: _median([t[key] for t in tries]) for key in
                        ("first_frame_s", "idle_cpu_fraction", "new_run_shown_s")}})
    return rows


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def markdown(rows: list[dict], sizes: tuple[int, ...]) -> str:
    """The app's rows of the registry table: first runs on screen, idle CPU, another process's run."""
    if not rows:
        return ""
    by_size = {row["runs"]: row for row in rows}
    lines = []
    for label, key, cell in (("app: first runs on screen (tmux 80x24)", "first_frame_s", "{:.2f} s"),
                             ("app: idle CPU over 10 s", "idle_cpu_fraction", "{:.1%}"),
                             ("app: a run from another process on screen", "new_run_shown_s", "{:.2f} s")):
        values = [by_size.get(size, {}).get(key) for size in sizes]
        lines.append(f"| {label} | " + " | ".join("-" if v is None else cell.format(v) for v in values) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    bench_app("--quick" in sys.argv)
