"""`lmctui-cli cluster check`: can this home's jobs run on the Slurm cluster from here?

Slurm must answer (`sinfo`), the partition must exist, and the home must be writable
with a `flock` that excludes (the registry's lock: without it, array tasks writing at
once would lose each other's records). The probe job checks the same from a compute
node: that it can import lmctui with this Python, write in the home, and lock there.
Each failure is one line that says what to do.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from lmctui.errors import WorkFailed
from lmctui.service.slurm.settings import ClusterSettings

SINFO_TIMEOUT_S = 20


def check_cluster(home: Path, settings: ClusterSettings, probe: bool = True, timeout_s: int = 120,
                  log: Callable[[str], None] = lambda text: None) -> dict:
    """A report of what was checked; WorkFailed with one line at the first thing that fails."""
    partitions = _partitions()
    names = [p["name"] for p in partitions]
    if settings.partition is not None and settings.partition not in names:
        raise WorkFailed(f"partition {settings.partition} does not exist here (partitions: {', '.join(names)})")
    log(f"sinfo: partitions {', '.join(names)}")
    home = Path(home).resolve()
    fs = check_home(home)
    log(f"home {home} ({fs}): writable, flock excludes")
    report = {"sinfo": True, "partitions": partitions, "home": str(home), "filesystem": fs, "flock": True,
              "probe": None}
    if probe:
        report["probe"] = _probe(home, settings, timeout_s, log)
    return report


def _partitions() -> list[dict]:
    if shutil.which("sinfo") is None:
        raise WorkFailed("Slurm is not reachable: sinfo is not on PATH (run this on a login node of the cluster)")
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%P|%a|%l|%D|%T"], capture_output=True, text=True,
                              timeout=SINFO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise WorkFailed(f"Slurm is not reachable: sinfo did not answer in {SINFO_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise WorkFailed(f"Slurm is not reachable: sinfo failed: {' '.join(done.stderr.split())[:300]}")
    found: dict[str, dict] = {}
    for line in done.stdout.splitlines():
        name, avail, limit, nodes, state = (line.split("|") + [""] * 5)[:5]
        entry = found.setdefault(name.rstrip("*"), {"name": name.rstrip("*"), "default": name.endswith("*"),
                                                    "available": avail, "time_limit": limit, "nodes": 0,
                                                    "states": []})
        entry["nodes"] += int(nodes) if nodes.isdigit() else 0
        entry["states"].append(state)
    if not found:
        raise WorkFailed("Slurm answers but lists no partition")
    return list(found.values())


def check_home(home: Path, name: str = ".cluster-check") -> str:
    """Write a file in the home and check that flock excludes there; return the file system's type."""
    probe = home / name
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe.write_text(socket.gethostname())
        with open(probe, "a") as first, open(probe, "a") as second:
            fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                raise WorkFailed(f"home {home}: flock does not exclude on this file system ({filesystem(home)}); "
                                 "put the home on one where it does")
    except OSError as err:
        raise WorkFailed(f"home {home}: cannot write and lock a file there ({err.strerror or err})") from None
    finally:
        probe.unlink(missing_ok=True)
    return filesystem(home)


def filesystem(path: Path) -> str:
    """The type of the file system holding `path` (the longest mount point above it)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) >= 3 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def probe_task(home: str) -> dict:
    """Inside a Slurm task: write and flock a file in the home; say where it ran."""
    node = socket.gethostname()
    check_home(Path(home), f".cluster-check-{node}-{os.getpid()}")
    return {"node": node, "filesystem": filesystem(Path(home))}


def _probe(home: Path, settings: ClusterSettings, timeout_s: int, log) -> dict:
    from lmctui.service.slurm.submit import fresh_folder, make_executor

    folder = fresh_folder(home / "slurm", f"check-{int(time.time())}")
    executor = make_executor(folder, replace(settings, time=min(settings.time, 5)))
    start = time.monotonic()
    try:
        job = executor.submit(probe_task, str(home))
    except Exception as err:
        raise WorkFailed(f"sbatch refused the probe job: {' '.join(str(err).split())[-300:]}") from None
    log(f"probe job {job.job_id} submitted; waiting up to {timeout_s} s")
    while not job.done(force_check=True):
        if time.monotonic() - start > timeout_s:
            subprocess.run(["scancel", str(job.job_id)], capture_output=True, timeout=30)
            raise WorkFailed(f"the probe job {job.job_id} did not finish in {timeout_s} s (state "
                             f"{job.get_info(mode='force').get('State', '?')}); is the partition busy?")
        time.sleep(0.5)
    try:
        result = job.result()
    except Exception as err:
        last = [line for line in str(err).splitlines() if line.strip()][-1:] or ["?"]
        raise WorkFailed(f"the probe job {job.job_id} failed on the compute node: {last[0][:300]} "
                         f"(log {job.paths.stderr})") from None
    shutil.rmtree(folder, ignore_errors=True)
    return {**result, "job": str(job.job_id), "seconds": round(time.monotonic() - start, 2)}
