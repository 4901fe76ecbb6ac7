"""Slurm through submitit against running here: what a submission costs, and a 16-task sweep.

Needs a reachable Slurm (`sinfo`); returns no rows without one. On the CI cluster (one
node, two CPUs) every array task pays a Python start and a torch import, so the cluster
wins only where the tasks are long or the nodes many: the rows say how far from that it is.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

SWEEP_WIDTHS = tuple(range(8, 136, 8))  # 16 values: one array task each


def slurm_reachable() -> bool:
    return why_unreachable() is None


def why_unreachable() -> str | None:
    """Why Slurm cannot be used from here (None when `sinfo -h` answers)."""
    if shutil.which("sinfo") is None:
        return "no sinfo on PATH"
    try:
        done = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"sinfo did not answer ({type(err).__name__})"
    return None if done.returncode == 0 else f"sinfo failed: {' '.join(done.stderr.split())[:200]}"


def run(quick: bool = False, log=lambda text: None) -> dict:
    """`python -m benchmarks --slurm`: the rows of `bench_slurm`, or one line saying why it was skipped."""
    from lmctui.bench.suite import format_row, machine

    why = why_unreachable()
    if why is not None:
        log(f"Slurm benchmark skipped: {why} (scripts/slurm/setup_slurm.sh starts a single-node cluster)")
        return {"machine": machine(), "quick": quick, "skipped": why, "results": []}
    rows = bench_slurm(quick)
    for row in rows:
        log(format_row(row))
    return {"machine": machine(), "quick": quick, "results": rows}


def bench_slurm(quick: bool) -> list[dict]:
    """Submission overhead per array task, and a 16-value width sweep on Slurm against the same sweep run here."""
    if not slurm_reachable():
        return []
    from lmctui.configs import DataConfig, TrainConfig
    from lmctui.service.slurm.settings import ClusterSettings
    from lmctui.service.slurm.placement import Slurm
    from lmctui.service.requests import SweepRequest, TrainRequest
    from lmctui.service.sweeps import run_sweep
    from lmctui.store import Registry

    epochs = 2 if quick else 5
    base = TrainRequest(DataConfig("digits"), width=8, depth=1, seeds=(0, 1), train=TrainConfig(epochs=epochs),
                        device="cpu")
    sweep = SweepRequest(base, "width", SWEEP_WIDTHS, ("naive",), points=5)
    settings = ClusterSettings(time=10, array_parallelism=len(SWEEP_WIDTHS))
    with tempfile.TemporaryDirectory() as tmp:
        registry, slurm = Registry(f"{tmp}/slurm"), Slurm(settings, no_wait=True, poll_s=0.5)
        # 16 seeds that do not train together: 16 array tasks of one tiny run each, in one sbatch
        tiny = TrainRequest(width=2, depth=1, seeds=tuple(range(16)), train=TrainConfig(epochs=1), device="cpu",
                            vectorize=False)
        start = time.perf_counter()
        docs = slurm.submit(registry, tiny)["jobs"]
        submitted = time.perf_counter() - start
        slurm.wait(registry, [d["id"] for d in docs])
        tiny_done = time.perf_counter() - start

        start = time.perf_counter()
        docs = slurm.submit(registry, sweep)["jobs"]
        ended = slurm.wait(registry, [d["id"] for d in docs])
        on_slurm = time.perf_counter() - start
        if ended[-1]["status"] != "done":
            raise RuntimeError(f"the Slurm sweep did not finish: {ended[-1].get('error')}")

        start = time.perf_counter()
        run_sweep(Registry(f"{tmp}/local"), sweep)
        local = time.perf_counter() - start
    return [
        {"name": "Slurm: sbatch of a 16-task array, per task", "lmctui_s": submitted / 16},
        {"name": "Slurm: 16 one-epoch tasks, submit to last settled, per task", "lmctui_s": tiny_done / 16},
        {"name": f"Slurm: 16-task width sweep, digits, {epochs} epochs", "lmctui_s": on_slurm},
        {"name": "local: the same sweep in one process", "lmctui_s": local},
    ]


if __name__ == "__main__":
    run(quick=False, log=print)
