"""The registry's cost against its size: python -m benchmarks --registry [--quick].

At 100, 1,000 and 10,000 runs (--quick: up to 1,000; --sizes 100,10000,100000 to choose)
plus N/10 curves, built with `insert_many` (timed: the bulk path `import` takes), median of 3: the whole `lmctui-cli list --json` and `show ID --json`
processes, one insert, one update and one job-progress write through the API (in a
process that has the registry open, and the first insert of a fresh process, which
must read every table's ids), and 16 writer processes each inserting 50 runs while
writing progress ten times a second (lost, corrupt, throughput).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lmctui.store import TABLES, Registry

SIZES, QUICK_SIZES = (100, 1_000, 10_000), (100, 1_000)
REPEATS = 3
WRITERS, WRITER_RUNS = 16, 50
ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "lmctui-cli"

WRITER = """
import sys, time
from lmctui.store import Registry
from benchmarks.registry import run_doc
registry, proc = Registry(sys.argv[1]), int(sys.argv[2])
job = registry.insert("jobs", {"status": "running", "kind": "train", "proc": proc})
last = 0.0
for k in range(int(sys.argv[3])):
    registry.insert("runs", {**run_doc(k), "proc": proc, "k": k})
    if time.monotonic() - last >= 0.1:
        registry.write_progress(job["id"], k / 50, f"run {k}", eta_s=1.0)
        last = time.monotonic()
registry.update("jobs", job["id"], {"status": "done", "progress": 1.0})
"""


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
    registry.insert_many("curves", [curve_doc(ids[2 * k % runs], ids[(2 * k + 1) % runs], k) for k in range(runs // 10)])
    job = registry.insert("jobs", {"kind": "train", "status": "running", "host": "elsewhere", "progress": 0.0})
    registry.compact()
    return ids, job["id"], inserted


def median_of(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cli_seconds(home: Path, *args: str) -> float:
    def call():
        subprocess.run([str(CLI), *args, "--json", "--home", str(home)], stdout=subprocess.DEVNULL, check=True, cwd=ROOT)
    return median_of(call)


def api_seconds(home: Path, ids: list[str], job_id: str) -> dict:
    registry = Registry(home)
    registry.all("runs")  # an open registry: the app's, a worker's
    step = iter(range(10**6))
    return {
        "insert one run (API)": median_of(lambda: registry.insert("runs", run_doc(0))),
        "update one run (API)": median_of(lambda: registry.update("runs", ids[len(ids) // 2], {"test_acc": next(step)})),
        "job progress write (API)": median_of(lambda: registry.write_progress(job_id, next(step) / 1e6, "epoch", 1.0)),
        "first insert of a new process (API)": median_of(lambda: Registry(home).insert("runs", run_doc(1))),
    }


def concurrent_writers(home: Path) -> dict:
    """16 processes, 50 inserts each, progress ten times a second: what was lost or damaged."""
    before = {d["id"] for d in Registry(home).all("runs")}
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(p), str(WRITER_RUNS)], cwd=ROOT)
             for p in range(WRITERS)]
    codes = [p.wait(timeout=600) for p in procs]
    seconds = time.perf_counter() - start
    registry = Registry(home)
    made = [d for d in registry.all("runs") if d["id"] not in before]
    expected = {(p, k) for p in range(WRITERS) for k in range(WRITER_RUNS)}
    found = {(d.get("proc"), d.get("k")) for d in made}
    corrupt = sum(1 for d in made if d.get("config") != run_doc(d.get("k", 0))["config"]) + _unreadable_lines(home)
    return {"writers": WRITERS, "failed_writers": sum(c != 0 for c in codes), "lost": len(expected - found),
            "duplicated": len(made) - len(found), "corrupt": corrupt, "seconds": seconds,
            "inserts_per_s": len(made) / seconds}


def _unreadable_lines(home: Path) -> int:
    bad = 0
    for table in TABLES:
        journal = home / "tables" / f"{table}.jsonl"
        for line in (journal.read_bytes().split(b"\n")[:-1] if journal.exists() else []):
            try:
                json.loads(line)
            except ValueError:
                bad += 1
    return bad


def run(quick: bool = False, log=lambda text: None, sizes: tuple[int, ...] | None = None) -> dict:
    results = {}
    for size in sizes or (QUICK_SIZES if quick else SIZES):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            ids, job_id, inserted = build(home, size)
            row = {"insert N runs in one call (insert_many)": inserted, "list --json": cli_seconds(home, "list"),
                   "show ID --json": cli_seconds(home, "show", ids[size // 2])}
            row.update(api_seconds(home, ids, job_id))
            row["16 writers"] = concurrent_writers(home)
            results[size] = row
            log(f"{size} runs: " + ", ".join(f"{k} {v:.4f} s" for k, v in row.items() if isinstance(v, float)))
    return {"registry": {str(k): v for k, v in results.items()}, "quick": quick}


def markdown(results: dict) -> str:
    sizes = list(results["registry"])
    rows = results["registry"]
    lines = ["| operation | " + " | ".join(f"{int(s):,}" for s in sizes) + " |",
             "| --- | " + " | ".join("---:" for _ in sizes) + " |"]
    for op in [k for k in rows[sizes[0]] if k != "16 writers"]:
        lines.append(f"| {op} | " + " | ".join(_duration(rows[s][op]) for s in sizes) + " |")
    for label, key, fmt in (("16 writers x 50 runs: lost / corrupt", None, None),
                            ("16 writers x 50 runs: inserts per second", "inserts_per_s", "{:.0f}")):
        cells = [(f"{rows[s]['16 writers']['lost']} / {rows[s]['16 writers']['corrupt']}" if key is None
                  else fmt.format(rows[s]["16 writers"][key])) for s in sizes]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"
