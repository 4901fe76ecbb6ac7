"""Decision regions of 2-D toy networks, on a grid over the data, for the app's map view."""

from __future__ import annotations

import torch

from lmctui.core.averaging import load
from lmctui.core.weights import lerp_state
from lmctui.errors import UserError
from lmctui.service.loaded import LoadedRuns
from lmctui.service.science import align_loaded
from lmctui.store import Registry

MARGIN = 0.15  # of the data's range, on each side


class DecisionRegions:
    """Run A, or the line from A to B, loaded once; `grid` draws one map.

    Moving alpha or switching the method reuses the loaded weights, the data and any
    alignment already made.
    """

    def __init__(self, registry: Registry, run_a: str, run_b: str | None = None):
        self.loaded = LoadedRuns.load(registry, [run_a] + ([run_b] if run_b else []), torch.device("cpu"))
        a = self.loaded[0]
        if tuple(a.model.input_shape) != (2,):
            raise UserError(f"run {a.id} is trained on {a.doc.get('dataset')}: "
                            "decision regions need a 2-D toy data set")

    def grid(self, alpha: float = 0.0, method: str = "naive", columns: int = 60, rows: int = 30) -> dict:
        """Class predicted at each grid point for A, or for (1 - alpha) A + alpha B (B aligned by `method`)."""
        loaded, a = self.loaded, self.loaded[0]
        state = a.state
        if len(loaded.runs) > 1:
            b_state = loaded[1].state if method == "naive" else align_loaded(loaded, 0, 1, method)[1]
            state = lerp_state(a.state, b_state, alpha)
        data = loaded.data
        model = load(a.model, state, loaded.device)
        lo, hi = data.x_train.min(0).values, data.x_train.max(0).values
        pad = (hi - lo) * MARGIN
        xs = torch.linspace(lo[0] - pad[0], hi[0] + pad[0], columns)
        ys = torch.linspace(hi[1] + pad[1], lo[1] - pad[1], rows)  # top row first
        points = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).reshape(-1, 2)  # (rows*cols, 2)
        with torch.no_grad():
            classes = model(points).argmax(1).reshape(rows, columns)
            test_acc = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
        return {"classes": classes.tolist(), "num_classes": a.model.num_classes, "alpha": alpha, "method": method,
                "test_acc": test_acc, "runs": [r.id for r in loaded.runs]}


def decision_grid(registry: Registry, run_a: str, run_b: str | None = None, alpha: float = 0.0,
                  method: str = "naive", columns: int = 60, rows: int = 30) -> dict:
    """One map, loading the runs for it (see `DecisionRegions` to draw several)."""
    return DecisionRegions(registry, run_a, run_b).grid(alpha, method, columns, rows)
