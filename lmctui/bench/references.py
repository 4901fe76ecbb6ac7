"""Plain reference implementations the benchmark compares lmctui against.

Written the way one would without lmctui: one network at a time, one alpha at a
time with load_state_dict, and weight matching with numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn
from torch.nn import functional as F


def train_one_at_a_time(make_model, seeds, x, y, epochs, batch_size, lr):
    """The usual PyTorch loop, once per seed."""
    states = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        order = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=order)
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        states.append(model.state_dict())
    return states


@torch.no_grad()
def interpolate_alpha_by_alpha(model: nn.Module, state_a, state_b, x_train, y_train, x_test, y_test, points):
    """load_state_dict at each alpha, then evaluate both splits."""
    rows = []
    for i in range(points):
        alpha = i / (points - 1)
        model.load_state_dict({k: (1 - alpha) * state_a[k] + alpha * state_b[k] for k in state_a})
        model.eval()
        row = []
        for x, y in ((x_train, y_train), (x_test, y_test)):
            logits = model(x)
            row += [F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()]
        rows.append(row)
    return rows


def mlp_weight_matching_scipy(a: dict, b: dict, depth: int, seed: int = 0, max_iter: int = 100):
    """git-re-basin-style coordinate descent for an MLP, in numpy: every permutation
    re-solved every round, until a round improves nothing. Returns (perms, objective)."""
    a = {k: v.double().numpy() for k, v in a.items()}
    b = {k: v.double().numpy() for k, v in b.items()}
    n = [a[f"hidden.{i}.weight"].shape[0] for i in range(depth)]
    perms = [np.arange(size) for size in n]
    rng = np.random.default_rng(seed)

    def permuted_b(layer_perm_out, layer_perm_in, key_w, key_b):
        w = b[key_w]
        if layer_perm_out is not None:
            w = w[layer_perm_out]
        if layer_perm_in is not None:
            w = w[:, layer_perm_in]
        return w, (b[key_b][layer_perm_out] if layer_perm_out is not None else b[key_b])

    for _ in range(max_iter):
        progress = False
        for p in rng.permutation(depth):
            # weights whose rows are p's units, then the next layer whose columns are
            cost = np.zeros((n[p], n[p]))
            w_in_perm = perms[p - 1] if p > 0 else None
            wb, bb = permuted_b(None, w_in_perm, f"hidden.{p}.weight", f"hidden.{p}.bias")
            cost += a[f"hidden.{p}.weight"] @ wb.T + np.outer(a[f"hidden.{p}.bias"], bb)
            next_key = f"hidden.{p + 1}.weight" if p + 1 < depth else "out.weight"
            next_out = perms[p + 1] if p + 1 < depth else None
            wn = b[next_key] if next_out is None else b[next_key][next_out]
            cost += a[next_key].T @ wn
            rows, cols = linear_sum_assignment(cost, maximize=True)
            old = cost[np.arange(n[p]), perms[p]].sum()
            new = cost[rows, cols].sum()
            if new > old + 1e-12:
                perms[p] = cols
                progress = True
        if not progress:
            break
    return perms, _mlp_objective(a, b, perms, depth)


def _mlp_objective(a, b, perms, depth):
    total = 0.0
    for i in range(depth):
        w = b[f"hidden.{i}.weight"][perms[i]]
        if i > 0:
            w = w[:, perms[i - 1]]
        total += (a[f"hidden.{i}.weight"] * w).sum() + (a[f"hidden.{i}.bias"] * b[f"hidden.{i}.bias"][perms[i]]).sum()
    total += (a["out.weight"] * b["out.weight"][:, perms[depth - 1]]).sum()
    return float(total)


def matmul_flops(dtype=torch.float32, n=1024, repeats=10, device="cpu") -> float:
    """Measured dense-matmul FLOP/s of this machine: the ceiling for training throughput."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    import time

    (a @ b).sum().item()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        (a @ b).sum().item()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best
