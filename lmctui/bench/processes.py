"""What a user waits for: whole processes, each paying its own imports (issue 23).

- `train` on digits for 1 epoch against `python -c "import torch"`: the fixed cost;
- 64 seeds of the digits MLP (width 32, depth 2, batch 64) as `lmctui-cli train --seeds
  0-63` and as the plain loop (benchmarks/plain_loop.py: one seed at a time,
  torch.optim.SGD, scikit-learn's digits): the whole processes at 10 epochs, and the
  cost per epoch as the slope (T(10) - T(1)) / 9, in which fixed costs cancel, measured
  in one process (between whole processes the start-up's noise would swamp it).

Each pair runs interleaved (A, B, A, B, ...) and the median is kept: on a shared machine
the load changes from one minute to the next, and a ratio of neighbours is steadier than
either time. Every row says the load average it ran under.

In process, the plain loop runs on one thread when lmctui's training does (a busy CPU,
`cpu_threads.intra_op_threads`): two threads would cost it 10x there, and the ratio would then
measure the scheduler. The plain script runs as a user runs it, with torch's defaults.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from lmctui.bench.timing import interleaved_medians

ROOT = Path(__file__).resolve().parent.parent.parent  # the source tree: benchmarks/plain_loop.py is there
PLAIN = [sys.executable, str(ROOT / "benchmarks" / "plain_loop.py")]
SEEDS, WIDTH = 64, 32
MACS = 64 * WIDTH + WIDTH * WIDTH + WIDTH * 10  # per example, forward
TRAIN_EXAMPLES = 1438  # digits' training split


def train_command(home: str, seeds: str, epochs: int, width: int = WIDTH) -> list[str]:
    return [sys.executable, "-m", "lmctui.cli", "train", "--dataset", "digits", "--width", str(width), "--depth", "2",
            "--batch-size", "64", "--lr", "0.05", "--seeds", seeds, "--epochs", str(epochs), "--device", "cpu",
            "--home", home]


def seconds(command: list[str]) -> float:
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        subprocess.run([home if part == "HOME" else part for part in command], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def in_process_slopes(repeats: int) -> tuple[float, float]:
    """Seconds per epoch of 64 seeds, (T(10 epochs) - T(1 epoch)) / 9, in this process: lmctui's
    `train_runs` (what `train` runs: the registry, metrics and weights written) and the plain loop
    (the loop of benchmarks/plain_loop.py: references.train_one_at_a_time)."""
    import torch
    from torch import nn

    from lmctui.bench.references import train_one_at_a_time
    from lmctui.configs import DataConfig, TrainConfig
    from lmctui.core.data import load_dataset
    from lmctui.core.cpu_threads import intra_op_threads
    from lmctui.service.catalog import open_registry
    from lmctui.service.training import TrainRequest, train_runs

    data = load_dataset(DataConfig("digits"))
    x, y = data.x_train.flatten(1), data.y_train

    def ours(epochs: int) -> float:
        request = TrainRequest(DataConfig("digits"), width=WIDTH, depth=2, seeds=tuple(range(SEEDS)),
                               train=TrainConfig(epochs=epochs, lr=0.05, batch_size=64), device="cpu")
        with tempfile.TemporaryDirectory() as home:
            start = time.perf_counter()
            train_runs(open_registry(home), request)
            return time.perf_counter() - start

    def make_model():
        return nn.Sequential(nn.Linear(64, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 10))

    def plain(epochs: int) -> float:
        with intra_op_threads(torch.device("cpu")):
            start = time.perf_counter()
            train_one_at_a_time(make_model, range(SEEDS), x, y, epochs, 64, 0.05)
            return time.perf_counter() - start

    ours(1), plain(1)  # warm: first-call costs are the fixed part
    slopes = {"ours": [], "plain": []}
    for _ in range(repeats):
        for name, fn in (("ours", ours), ("plain", plain)):
            slopes[name].append((fn(10) - fn(1)) / 9)
    return statistics.median(slopes["ours"]), statistics.median(slopes["plain"])


def bench_processes(quick: bool, peak_flops: float, log=lambda text: None) -> list[dict]:
    repeats = 3 if quick else 5
    fixed = interleaved_medians({"train": partial(seconds, train_command("HOME", "0", 1)),
                                 "torch": partial(seconds, [sys.executable, "-c", "import torch"])}, repeats, log)
    rows = [_with_load({"name": "fixed cost: train digits 1 epoch vs import torch (processes)",
                        "lmctui_s": fixed["train"], "plain_s": fixed["torch"],
                        "over_import_torch_s": fixed["train"] - fixed["torch"]})]
    if Path(PLAIN[1]).exists():  # a source checkout: the plain script is beside the package
        whole = interleaved_medians({"ours": partial(seconds, train_command("HOME", f"0-{SEEDS - 1}", 10)),
                                     "plain": partial(seconds, PLAIN + ["--epochs", "10"])}, repeats, log)
        rows.append(_with_load({"name": "64 seeds x 10 epochs, whole process", "lmctui_s": whole["ours"],
                                "plain_s": whole["plain"], "speedup": whole["plain"] / whole["ours"]}))
    ours, plain = in_process_slopes(repeats)
    flops = 6 * MACS * TRAIN_EXAMPLES * SEEDS  # per epoch: forward 2x, backward 4x
    rows.append(_with_load({"name": "64 seeds, per epoch (slope over 1 -> 10 epochs)", "lmctui_s": ours,
                            "plain_s": plain, "speedup": plain / ours, "achieved_gflops": flops / ours / 1e9,
                            "fraction_of_matmul_peak": flops / ours / peak_flops}))
    return rows


def _with_load(row: dict) -> dict:
    """The row with the 1-minute load average it ended under."""
    return row | {"load": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    from lmctui.bench.references import matmul_flops

    for row in bench_processes("--quick" in sys.argv, matmul_flops(), log=print):
        print(row)
