"""Many writer processes, and writers killed with SIGKILL: nothing committed is lost or damaged."""

import json
import random
import signal
import subprocess
import sys
import time

from conftest import REPO
from lmctui.store import TABLES, Registry

# Each child compacts after a few KiB, so compactions race with the other writers too.
WRITER = """
import sys, time
from lmctui.store import Registry, table_file
table_file.COMPACT_MIN_BYTES = 8192
registry, proc, count = Registry(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
job = registry.insert("jobs", {"status": "running", "proc": proc})
last_progress = 0.0
for k in range(count):
    run = registry.insert("runs", {"proc": proc, "k": k, "config": {"width": k, "seeds": list(range(5))}})
    print(run["id"], flush=True)
    if time.monotonic() - last_progress >= 0.1:  # progress ten times a second, as a training job does
        registry.write_progress(job["id"], (k + 1) / count, f"run {k + 1}/{count}", eta_s=1.0)
        last_progress = time.monotonic()
    if k % 10 == 9:
        registry.update("jobs", job["id"], {"done_k": k})
registry.write_progress(job["id"], 1.0, "all runs in", eta_s=0.0)
registry.update("jobs", job["id"], {"status": "done"})
"""


def start_writer(home, proc, count):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(proc), str(count)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def every_file_parses(home):
    for table in TABLES:
        snapshot, journal = home / "tables" / f"{table}.json", home / "tables" / f"{table}.jsonl"
        if snapshot.exists():
            json.loads(snapshot.read_bytes())
        if journal.exists():
            assert all(json.loads(line) for line in journal.read_bytes().split(b"\n")[:-1])


def test_sixteen_writer_processes_lose_and_damage_nothing(home):
    procs = [start_writer(home, p, 50) for p in range(16)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 16, [err for _, err in outputs]
    registry = Registry(home)
    runs = registry.all("runs")
    assert sorted((d["proc"], d["k"]) for d in runs) == [(p, k) for p in range(16) for k in range(50)]
    assert {d["id"] for d in runs} == {i for out, _ in outputs for i in out.split()}
    assert all(registry.run_config(d["id"]) == {"width": d["k"], "seeds": [0, 1, 2, 3, 4]} for d in runs)
    jobs = registry.all("jobs")
    ids = [d["id"] for t in TABLES for d in registry.all(t)]
    assert len(ids) == len(set(ids)) == 16 * 51
    # each job's last progress was folded into its document when it finished, and its file removed
    assert sorted(j["proc"] for j in jobs) == list(range(16))
    assert all(j["status"] == "done" and j["done_k"] == 49 and j["progress"] == 1.0 and j["message"] == "all runs in"
               for j in jobs)
    assert registry.progress() == {}
    every_file_parses(home)


def test_a_writer_killed_at_random_moments_loses_nothing_it_committed(home):
    rng = random.Random(0)
    committed = set()
    for _ in range(5):
        proc = start_writer(home, 0, 10**6)
        deadline = time.monotonic() + rng.uniform(0.3, 0.9)
        for line in proc.stdout:  # an id is printed only after its insert returned
            committed.add(line.strip())
            if time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        committed |= set(proc.stdout.read().split())  # printed before the kill, not yet read here
        stored = {d["id"] for d in Registry(home).all("runs")}
        assert committed <= stored  # every committed insert, and at most the one in flight besides
        assert len(stored - committed) <= 1
        committed |= stored  # an insert in flight at the kill that reached the disk is kept from now on
    every_file_parses(home)
