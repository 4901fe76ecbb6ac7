"""What a user waits for at 100 and at 100,000 runs (issue 23): whole processes against registry size.

At each size a home is built with N runs (trained runs' documents, about 1.3 KB each with
their configs) and N/10 curves by `insert_many`, the bulk path `import` takes (the insert
is timed), then, median of 5, interleaved across the sizes (on a shared machine the load
changes from one minute to the next):
- the whole `lmctui-cli list --json` and `lmctui-cli show ID --json` processes;
- the app's first runs on screen: from starting `lmctui` (headless, 80x24) to the frame
  that first shows runs (lmctui/bench/first_frame.py --runs).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lmctui.store import Registry

SUITE_SIZES, QUICK_SUITE_SIZES = (100, 100_000), (100, 10_000)
PROCESS_REPEATS = 5
ROOT = Path(__file__).resolve().parent.parent.parent
PROCESS_ROWS = ("list --json", "show ID --json", "app: first runs on screen (headless)")
INSERT_ROW = "insert N runs in one call (insert_many)"


def run_doc(k: int) -> dict:
    """A trained run's document as `lmctui-cli train` stores it (about 1.3 KB)."""
    width = 8 << (k % 5)
    return {"arch": "mlp", "batch_size": 64, "checkpoint_sha256": {}, "checkpoints": [], "config": {
        "data": {"data_dir": None, "download": False, "n_samples": 1000, "name": "moons", "noise": None},
        "init_from": None, "model": {"arch": "mlp", "depth": 2, "input_shape": [2], "norm": "none",
                                     "num_classes": 2, "width": width},
        "path": {"device": "cpu", "trained_with": [k % 16], "vectorized": False},
        "train": {"batch_size": 64, "data_seed": k, "epochs": 10, "init_seed": k, "lr": 0.05, "momentum": 0.9,
                  "optimizer": "sgd", "save_epochs": [], "schedule": "constant", "warmup_epochs": 0.0,
                  "weight_decay": 0.0}},
        "data_seed": k, "dataset": "moons", "depth": 2, "device": "cpu", "epochs": 10, "epochs_done": 10,
        "error": None, "finished": "2026-01-01T00:00:10+00:00", "host": "bench", "init_seed": k, "kind": "trained",
        "lr": 0.05, "norm": "none", "optimizer": "sgd", "parent": None, "pid": 1, "seconds": 1.5, "seed": k,
        "started": "2026-01-01T00:00:00+00:00", "status": "done", "tags": ["bench"], "test_acc": 0.865,
        "test_loss": 0.522, "train_acc": 0.8125, "train_acc_running": 0.684, "train_loss": 0.543,
        "train_loss_running": 0.648, "weights_sha256": "5773d83a5741ce34bcf8f8118b6d0c61da92bd458e09054414c80e7d2a3796ed",
        "width": width}


def curve_doc(run_a: str, run_b: str, k: int) -> dict:
    """A 25-point interpolation curve between two runs (ids, no copies of the runs)."""
    alpha = [i / 24 for i in range(25)]
    bump = [4 * a * (1 - a) * (0.1 + k % 7 / 10) for a in alpha]
    return {"run_a": run_a, "run_b": run_b, "method": ("naive", "weight")[k % 2], "dataset": "moons",
            "arch": "mlp", "width": 32, "depth": 2, "points": 25, "repair": False, "reset_bn": True,
            "alignment": None, "alpha": alpha, "train_loss": [0.1 + b for b in bump],
            "test_loss": [0.12 + b for b in bump], "train_acc": [0.95 - b / 4 for b in bump],
            "test_acc": [0.94 - b / 4 for b in bump], "loss_barrier_train": max(bump),
            "loss_barrier_test": max(bump), "error_barrier_train": max(bump) / 4, "error_barrier_test": max(bump) / 4}


def build(home: Path, runs: int) -> tuple[list[str], str, float]:
    """N runs, N/10 curves and a running job; returns the run ids, the job's id and the seconds
    the runs' insert took (one `insert_many`: the bulk path `import` takes, configs to their folders)."""
    registry = Registry(home)
    start = time.perf_counter()
    ids = [d["id"] for d in registry.insert_many("runs", [run_doc(k) for k in range(runs)])]
    inserted = time.perf_counter() - start
    curves = [curve_doc(ids[2 * k % runs], ids[(2 * k + 1) % runs], k) for k in range(runs // 10)]
    registry.insert_many("curves", curves)
    job = registry.insert("jobs", {"kind": "train", "status": "running", "host": "elsewhere", "progress": 0.0})
    registry.compact()
    return ids, job["id"], inserted


def cli_command() -> list[str]:
    """The installed `lmctui-cli` next to this interpreter (what a user runs), else the module."""
    script = Path(sys.executable).parent / "lmctui-cli"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lmctui.cli"]


def cli_seconds(home: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([*cli_command(), *args, "--json", "--home", str(home)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)  # stderr: list's note on its page
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"lmctui-cli {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds


def first_runs_seconds(home: Path) -> float:
    """From starting the app to the frame that first shows runs (the child says when it was)."""
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "lmctui.bench.first_frame", str(home), "--runs"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    shown = None
    for line in proc.stdout:
        if line.startswith("FIRST_RUNS"):
            shown = float(line.split()[1]) - start
            break
    proc.terminate()  # what it does after that frame (reading every run, quitting) is not timed
    proc.wait(timeout=300)
    if shown is None:
        raise RuntimeError(f"the app never showed the runs of {home}")
    return shown


def process_rows(homes: dict[int, tuple[Path, list[str]]], repeats: int = PROCESS_REPEATS) -> dict[int, dict]:
    """{size: {row: median seconds}} of PROCESS_ROWS, the sizes interleaved in every round."""
    def timings(home: Path, ids: list[str]) -> dict[str, float]:
        return {"list --json": cli_seconds(home, "list"),
                "show ID --json": cli_seconds(home, "show", ids[len(ids) // 2]),
                "app: first runs on screen (headless)": first_runs_seconds(home)}

    samples: dict[int, dict[str, list[float]]] = {size: {row: [] for row in PROCESS_ROWS} for size in homes}
    for _ in range(repeats):
        for size, (home, ids) in homes.items():
            for row, seconds in timings(home, ids).items():
                samples[size][row].append(seconds)
    return {size: {row: statistics.median(values) for row, values in rows.items()} for size, rows in samples.items()}


def bench_registry(quick: bool, log=lambda text: None) -> list[dict]:
    """The suite's rows: each process at the largest size against the smallest, and the insert."""
    sizes = QUICK_SUITE_SIZES if quick else SUITE_SIZES
    small, large = sizes
    with tempfile.TemporaryDirectory() as tmp:
        homes, inserted = {}, {}
        for size in sizes:
            home = Path(tmp) / str(size)
            ids, _, inserted[size] = build(home, size)
            homes[size] = (home, ids)
            log(f"registry of {size:,} runs built (insert_many {inserted[size]:.1f} s)")
        rows = process_rows(homes, 3 if quick else PROCESS_REPEATS)
    out = [{"name": f"registry: {row}, {large:,} runs vs {small:,}", "lmctui_s": rows[large][row],
            "small_s": rows[small][row], "ratio": rows[large][row] / rows[small][row]} for row in PROCESS_ROWS]
    return out + [{"name": f"registry: insert {large:,} runs (insert_many)", "lmctui_s": inserted[large]}]
