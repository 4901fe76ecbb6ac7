"""Decision regions of 2-D toy networks, on a grid over the data, for the app's map view."""

from __future__ import annotations

import torch

from lmctui.core.interpolation import lerp_state
from lmctui.core.averaging import load
from lmctui.errors import UserError
from lmctui.service import science
from lmctui.store import Registry

MARGIN = 0.15  # of the data's range, on each side


def decision_grid(registry: Registry, run_a: str, run_b: str | None = None, alpha: float = 0.0,
                  method: str = "naive", columns: int = 60, rows: int = 30) -> dict:
    """Class predicted at each grid point for run A, or for (1 - alpha) A + alpha B.

    With `method` weight or activation, B is first aligned to A (reusing a stored alignment).
    """
    device = torch.device("cpu")
    ids = [run_a] + ([run_b] if run_b else [])
    runs = science.load_runs(registry, ids, device)
    a = runs[0]
    if tuple(a.model.input_shape) != (2,):
        raise UserError(f"run {a.id} is trained on {a.doc.get('dataset')}: decision regions need a 2-D toy data set")
    state = a.state
    if run_b:
        b_state = runs[1].state
        if method != "naive":
            alignment = science._align_loaded(registry, a, runs[1], method, 0)
            b_state = science.LoadedRun(registry, registry.get("runs", alignment["aligned_run"]), device).state
        state = lerp_state(a.state, b_state, alpha)
    data = science.dataset_of(a.doc, device)
    model = load(a.model, state, device)
    lo, hi = data.x_train.min(0).values, data.x_train.max(0).values
    pad = (hi - lo) * MARGIN
    xs = torch.linspace(lo[0] - pad[0], hi[0] + pad[0], columns)
    ys = torch.linspace(hi[1] + pad[1], lo[1] - pad[1], rows)  # top row first
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).reshape(-1, 2)  # (rows*cols, 2)
    with torch.no_grad():
        classes = model(grid).argmax(1).reshape(rows, columns)
        test_acc = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    return {"classes": classes.tolist(), "num_classes": a.model.num_classes, "alpha": alpha, "method": method,
            "test_acc": test_acc, "runs": ids}
