"""The plain PyTorch loop lmctui's seed training is measured against, as a script anyone can rerun.

Digits MLP (64 -> 32 -> 32 -> 10), batch 64, standard `torch.optim.SGD` (lr 0.05, momentum 0.9),
one seed at a time, each with its own init and data order: what one writes without lmctui.
It pays its own imports (torch, scikit-learn for the digits), as a user's script does.

    python benchmarks/plain_loop.py --seeds 64 --epochs 10     # prints seconds per epoch and in all

Time the whole process with `time`; the in-process figures are printed as JSON on stdout.
It imports nothing from lmctui on purpose (a loop written outside the project), so its loop
repeats `lmctui/bench/references.py`'s `train_one_at_a_time`, which the in-process
comparison of `lmctui-cli bench` runs.
"""

import argparse
import json
import time

START = time.perf_counter()

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 8x8 digits, scaled to [0, 1] and standardized; the first 80 % (a plain split)."""
    bunch = load_digits()
    x = torch.tensor(bunch.images / 16.0, dtype=torch.float32).flatten(1)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    x = (x - x.mean()) / x.std()
    n = int(0.8 * len(x))
    return x[:n], y[:n]


def train_seed(seed: int, x: torch.Tensor, y: torch.Tensor, epochs: int, width: int, batch: int) -> list[float]:
    """One network trained alone; returns the wall time at the end of each epoch."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          nn.Linear(width, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    order = torch.Generator().manual_seed(seed)
    ends = []
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=order)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        ends.append(time.perf_counter())
    return ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    x, y = digits()
    begin = time.perf_counter()
    per_epoch = [0.0] * args.epochs  # summed over seeds: the time all seeds spent in epoch e
    for seed in range(args.seeds):
        start = time.perf_counter()
        ends = train_seed(seed, x, y, args.epochs, args.width, args.batch)
        for e, end in enumerate(ends):
            per_epoch[e] += end - (ends[e - 1] if e else start)
    done = time.perf_counter()
    print(json.dumps({"seeds": args.seeds, "epochs": args.epochs, "width": args.width,
                      "imports_and_data_s": begin - START, "training_s": done - begin,
                      "epoch_s": sum(per_epoch[1:]) / max(1, args.epochs - 1) if args.epochs > 1 else per_epoch[0],
                      "script_s": done - START}))


if __name__ == "__main__":
    main()
