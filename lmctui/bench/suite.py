"""Time lmctui against plain reference code on this machine, in the same run.

Each comparison runs both sides on the same inputs, several times, and reports the
median. Nothing is cached between the compared runs.
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from lmctui.bench.timing import interleaved_medians, timed


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bench_training(quick: bool, peak_flops: float) -> list[dict]:
    """16 seeds of a digits MLP: `lmctui-cli train --seeds 0-15` vs a plain loop per seed."""
    import torch
    from torch import nn

    from lmctui.bench.references import train_one_at_a_time
    from lmctui.core.cpu_threads import intra_op_threads
    from lmctui.core.data import DataConfig, load_dataset
    from lmctui.core.training import TrainConfig
    from lmctui.service.catalog import open_registry
    from lmctui.service.training import TrainRequest, train_runs

    data = load_dataset(DataConfig("digits"))
    epochs, repeats, seeds = (3, 3, 16) if quick else (10, 5, 16)
    rows = []
    for width in (32, 256):
        request = TrainRequest(DataConfig("digits"), width=width, depth=2, seeds=tuple(range(seeds)),
                               train=TrainConfig(epochs=epochs, lr=0.05, batch_size=64), device="cpu")

        def ours():
            with tempfile.TemporaryDirectory() as home:
                return train_runs(open_registry(home), request)

        def make_model():
            return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 10))

        def plain():
            with intra_op_threads(torch.device("cpu")):  # the one thread lmctui takes on a busy CPU
                return train_one_at_a_time(make_model, range(seeds), data.x_train, data.y_train, epochs, 64, 0.05)

        ours(), plain()  # warm: first calls pay one-off costs
        medians = interleaved_medians({"ours": timed(ours), "plain": timed(plain)}, repeats)
        t_ours, t_plain = medians["ours"], medians["plain"]
        macs = 64 * width + width * width + width * 10  # per example, forward
        flops = 6 * macs * len(data.x_train) * epochs * seeds  # forward 2x, backward 4x
        rows.append({"name": f"train 16 seeds, digits MLP width {width}", "lmctui_s": t_ours, "plain_s": t_plain,
                     "speedup": t_plain / t_ours, "achieved_gflops": flops / t_ours / 1e9,
                     "fraction_of_matmul_peak": flops / t_ours / peak_flops})
    return rows


def bench_interpolation(quick: bool) -> list[dict]:
    """25-point curves: lmctui's `interpolate` vs load_state_dict and evaluate, alpha by alpha."""
    import torch

    from lmctui.bench.references import interpolate_alpha_by_alpha
    from lmctui.core.cpu_threads import intra_op_threads
    from lmctui.core.data import DataConfig, load_dataset
    from lmctui.core.interpolation import InterpolationOptions, interpolate
    from lmctui.core.models import ModelConfig, build_model

    repeats = 5 if quick else 11
    rows = []
    for dataset, width in (("moons", 16), ("digits", 64), ("digits", 256)):
        data = load_dataset(DataConfig(dataset))
        config = ModelConfig("mlp", width, 2, "none", data.input_shape, data.num_classes)
        a = build_model(config, torch.Generator().manual_seed(0)).state_dict()
        b = build_model(config, torch.Generator().manual_seed(1)).state_dict()
        model = build_model(config)

        def plain():
            with intra_op_threads(torch.device("cpu")):  # the one thread lmctui takes on a busy CPU
                interpolate_alpha_by_alpha(model, a, b, data.x_train, data.y_train, data.x_test, data.y_test, 25)

        ours = functools.partial(interpolate, config, a, b, data, InterpolationOptions(points=25))
        ours(), plain()  # warm
        medians = interleaved_medians({"ours": timed(ours), "plain": timed(plain)}, repeats)
        t_ours, t_plain = medians["ours"], medians["plain"]
        rows.append({"name": f"25-point curve, {dataset} MLP width {width}", "lmctui_s": t_ours,
                     "plain_s": t_plain, "speedup": t_plain / t_ours})
    return rows


def bench_matching(quick: bool) -> dict:
    """Weight matching of two trained 1024 x 3 MLPs: lmctui vs plain scipy coordinate descent."""
    import torch

    from lmctui.bench.references import mlp_weight_matching_scipy
    from lmctui.core.data import DataConfig, load_dataset
    from lmctui.core.matching import weight_matching
    from lmctui.core.models import ModelConfig
    from lmctui.core.permutation import spec_for
    from lmctui.core.training import TrainConfig
    from lmctui.core.vectorized import train_many

    data = load_dataset(DataConfig("digits"))
    config = ModelConfig("mlp", 1024, 3, "none", data.input_shape, data.num_classes)
    trained = train_many(config, [TrainConfig(epochs=3, init_seed=s, data_seed=s) for s in (0, 1)], data,
                         torch.device("cpu"))
    a, b = trained[0].state_dict, trained[1].state_dict
    repeats = 1 if quick else 3
    t_ours, ours = median_seconds(lambda: weight_matching(spec_for(config), a, b, seed=0), repeats)
    t_plain, (_, plain_objective) = median_seconds(lambda: mlp_weight_matching_scipy(a, b, 3, seed=0), repeats)
    return {"name": "weight matching, MLP 1024 x 3", "lmctui_s": t_ours, "plain_s": t_plain,
            "speedup": t_plain / t_ours, "time_ratio": t_ours / t_plain, "lmctui_objective": ours.objective[-1],
            "plain_objective": plain_objective, "rounds": ours.iterations, "solves": ours.solves}


def bench_first_frame(quick: bool) -> dict:
    """Seconds from starting the app's process to its first frame (headless, 80x24)."""
    repeats = 3 if quick else 5
    times = []
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as home:
        for _ in range(repeats):
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "lmctui.bench.first_frame", home], cwd=root,
                                    stdout=subprocess.PIPE, text=True)
            for line in proc.stdout:
                if "FIRST_FRAME" in line:
                    times.append(time.perf_counter() - start)
                    break
            proc.wait(timeout=60)
    return {"name": "app start-up to first frame", "lmctui_s": statistics.median(times)}


def machine() -> dict:
    import torch

    return {"date": datetime.now(timezone.utc).date().isoformat(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version()}


def run(quick: bool = False, log=lambda text: None) -> dict:
    from lmctui.bench.references import matmul_flops

    peak = matmul_flops()
    log(f"dense matmul (float32, 1024^3): {peak / 1e9:.1f} GFLOP/s")
    results = []
    from lmctui.bench.processes import bench_processes
    from lmctui.bench.registry_size import bench_registry
    from lmctui.bench.user_model import bench_user_model

    for step in (lambda: bench_processes(quick, peak, log), lambda: bench_training(quick, peak),
                 lambda: bench_user_model(quick, median_seconds),
                 lambda: bench_interpolation(quick), lambda: bench_matching(quick), lambda: bench_first_frame(quick),
                 lambda: bench_registry(quick, log)):
        rows = step()
        for row in rows if isinstance(rows, list) else [rows]:
            log(format_row(row))
            results.append(row)
    return {"machine": machine(), "quick": quick, "matmul_peak_gflops": peak / 1e9, "results": results}


def format_row(row: dict) -> str:
    load = f"   load {row['load']:.1f}" if "load" in row else ""
    return _format_times(row) + load


def _format_times(row: dict) -> str:
    if "ratio" in row:  # the registry's rows: the same process at two sizes
        return f"{row['name']:<48} {row['lmctui_s']:8.3f} s   at the smaller size {row['small_s']:8.3f} s   x{row['ratio']:.2f}"
    if "plain_s" not in row:
        return f"{row['name']:<48} {row['lmctui_s']:8.3f} s"
    if "over_import_torch_s" in row:
        return (f"{row['name']:<48} lmctui {row['lmctui_s']:8.3f} s   import torch {row['plain_s']:8.3f} s   "
                f"+{row['over_import_torch_s']:.2f} s")
    extra = f"  {row['fraction_of_matmul_peak']:.1%} of matmul peak" if "fraction_of_matmul_peak" in row else ""
    return (f"{row['name']:<48} lmctui {row['lmctui_s']:8.3f} s   plain {row['plain_s']:8.3f} s   "
            f"x{row['speedup']:.2f}{extra}")
