"""8 seeds of a user's own CNN (examples/user_cnn.py) on digits: vectorized (torch.func) vs one at a time.

Both sides are lmctui's own training (`train_many` and `train`), on the same data, the
same configs and the same device, so the row measures only what stacking the seeds buys.
"""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "user_cnn.py"  # in the repository


def bench_user_model(quick: bool, median_seconds, device: str = "cpu", seeds: int = 8) -> list[dict]:
    """The row, or none outside a repository checkout (the example model lives in examples/);
    `median_seconds(fn, repeats)` is the suite's timer."""
    if not EXAMPLE.is_file():
        return []
    import torch

    from lmctui.configs import DataConfig, ModelConfig, TrainConfig
    from lmctui.core.data import load_dataset
    from lmctui.core.training import train
    from lmctui.core.vectorized import train_many, vectorize_refusal
    from lmctui.usermodel import canonical_arch, source_sha256

    dev = torch.device(device)
    data = load_dataset(DataConfig("digits")).to(dev)
    arch = canonical_arch(f"{EXAMPLE}:make_cnn")
    config = ModelConfig(arch, 16, 2, "none", data.input_shape, data.num_classes, {}, source_sha256(arch))
    assert vectorize_refusal(config) is None
    epochs, repeats = (1, 1) if quick else (3, 3)
    configs = [TrainConfig(epochs=epochs, batch_size=64, init_seed=s, data_seed=s) for s in range(seeds)]
    t_vec, _ = median_seconds(lambda: train_many(config, configs, data, dev), repeats)
    t_one, _ = median_seconds(lambda: [train(config, c, data, dev) for c in configs], repeats)
    # "plain" here is lmctui training the same seeds one at a time: what vectorizing buys
    return [{"name": f"train {seeds} seeds of a user CNN, digits, one at a time vs vectorized", "lmctui_s": t_vec,
             "plain_s": t_one, "speedup": t_one / t_vec, "epochs": epochs, "device": device}]

