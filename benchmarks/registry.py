"""The registry's cost against its size: python -m benchmarks --registry [--quick] [--sizes 100,10000,100000].

At 100, 1,000 and 10,000 runs (--quick: up to 1,000; --sizes to choose) plus N/10 curves,
built with `insert_many` (timed: the bulk path `import` takes): the whole `lmctui-cli
list --json` and `show ID --json` processes and the app's first runs on screen (median
of 5, the sizes interleaved: lmctui/bench/registry_size.py), then per size, median of 3,
one insert, one update and one job-progress write through the API (in a process that has
the registry open, and the first insert of a fresh process, which must read every table's
ids), and 16 writer processes each inserting 50 runs while writing progress ten times a
second (lost, corrupt, throughput).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lmctui.bench.registry_size import INSERT_ROW, build, process_rows, run_doc
from lmctui.store import TABLES, Registry

SIZES, QUICK_SIZES = (100, 1_000, 10_000), (100, 1_000)
REPEATS = 3
WRITERS, WRITER_RUNS = 16, 50
ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys, time
from lmctui.store import Registry
from lmctui.bench.registry_size import run_doc
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


def median_of(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    corrupt = sum(1 for d in made if registry.run_config(d["id"]) != run_doc(d.get("k", 0))["config"]) \
        + _unreadable_lines(home)
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
    results, built = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes or (QUICK_SIZES if quick else SIZES):
            home = Path(tmp) / str(size)
            ids, job_id, inserted = build(home, size)
            built[size], results[size] = (home, ids, job_id), {INSERT_ROW: inserted}
            log(f"{size} runs built: insert_many {inserted:.2f} s")
        for size, rows in process_rows({size: (home, ids) for size, (home, ids, _) in built.items()}).items():
            results[size].update(rows)
        for size, (home, ids, job_id) in built.items():
            row = results[size]
            row.update(api_seconds(home, ids, job_id))
            row["16 writers"] = concurrent_writers(home)
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
