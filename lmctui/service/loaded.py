"""Runs loaded once: records, weights and their data set in memory, for the science use cases.

Align, interpolate, average, sweeps and decision regions all work on a `LoadedRuns`:
the weights are read (and sha256-checked) once, the data set is built once, and an
alignment made or reused along the way keeps its permuted state in memory, so nothing
is written and read back within one piece of work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lmctui.configs import DataConfig, ModelConfig
from lmctui.core.data import Dataset, load_dataset
from lmctui.core.devices import resolve_device
from lmctui.errors import UserError
from lmctui.service.catalog import require_done, resolve_runs
from lmctui.service.user_inputs import check_data_unchanged
from lmctui.store import Registry
from lmctui.store.runfiles import WEIGHTS, load_weights

@dataclass
class LoadedRun:
    """A finished run's record, model config and weights (on the work's device)."""

    id: str
    doc: dict
    model: ModelConfig
    state: dict[str, torch.Tensor]

    @classmethod
    def load(cls, registry: Registry, doc: dict, device: torch.device) -> "LoadedRun":
        require_done(doc)
        weights = load_weights(registry.run_dir(doc["id"]) / WEIGHTS, doc.get("weights_sha256"))
        return cls(doc["id"], doc, ModelConfig.from_dict(doc["config"]["model"]),
                   {k: v.to(device) for k, v in weights.items()})


@dataclass
class LoadedRuns:
    """Compatible runs on one device, with their shared data set (built on first use)."""

    registry: Registry
    device: torch.device
    runs: list[LoadedRun]
    aligned: dict[tuple, tuple[dict, dict]] = field(default_factory=dict)  # (a, b, method, seed) -> (record, state)
    _data: Dataset | None = None

    @classmethod
    def load(cls, registry: Registry, prefixes: list[str], device: str | torch.device = "auto") -> "LoadedRuns":
        """Resolve, check and load the runs; refuses duplicates, unfinished and incompatible runs."""
        docs = resolve_runs(registry, prefixes)
        for doc in docs:
            check_data_unchanged(doc)
        dev = device if isinstance(device, torch.device) else resolve_device(device)
        return cls(registry, dev, [LoadedRun.load(registry, d, dev) for d in docs])

    def __getitem__(self, index: int) -> LoadedRun:
        return self.runs[index]

    @property
    def model(self) -> ModelConfig:
        return self.runs[0].model

    @property
    def data(self) -> Dataset:
        if self._data is None:
            self._data = dataset_of(self.runs[0].doc, self.device)
        return self._data

    def evaluate_on(self, data: Dataset) -> None:
        """Measure on `data` from now on instead of the runs' own data set (a study's subset of it)."""
        self._data = data

    def index_of(self, prefix: str) -> int:
        """The position of the run named by `prefix` among the loaded runs."""
        run_id = self.registry.resolve("runs", prefix)["id"]
        ids = [r.id for r in self.runs]
        if run_id not in ids:
            raise UserError(f"run {run_id} is not one of the runs loaded ({', '.join(ids)})")
        return ids.index(run_id)


def dataset_of(doc: dict, device: torch.device) -> Dataset:
    """The data set a run was trained on, on `device`."""
    return load_dataset(DataConfig.from_dict(doc["config"]["data"])).to(device)
