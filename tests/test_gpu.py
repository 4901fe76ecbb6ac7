"""CUDA paths; they skip cleanly on machines without a GPU (CI, the dev machines)."""

import pytest
import torch

from lmctui.core.data import DataConfig, load_dataset
from lmctui.core.interpolation import InterpolationOptions, interpolate
from lmctui.core.matching import weight_matching
from lmctui.core.models import ModelConfig
from lmctui.core.permutation import spec_for
from lmctui.core.training import TrainConfig, train
from lmctui.core.vectorized import train_many

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
CUDA = torch.device("cuda")


def test_cuda_training_interpolation_and_matching_agree_with_the_cpu():
    data = load_dataset(DataConfig("digits"))
    model = ModelConfig("mlp", 32, 2, "none", data.input_shape, data.num_classes)
    configs = [TrainConfig(epochs=2, init_seed=s, data_seed=s) for s in range(2)]
    on_gpu = train_many(model, configs, data.to(CUDA), CUDA)
    on_cpu = [train(model, c, data, torch.device("cpu")) for c in configs]
    for g, c in zip(on_gpu, on_cpu):
        assert g.history[-1].test_acc == pytest.approx(c.history[-1].test_acc, abs=0.02)
    a, b = ({k: v.to(CUDA) for k, v in r.state_dict.items()} for r in on_gpu)
    curve = interpolate(model, a, b, data.to(CUDA), InterpolationOptions(points=5))
    cpu_curve = interpolate(model, on_gpu[0].state_dict, on_gpu[1].state_dict, data, InterpolationOptions(points=5))
    assert curve.test_loss == pytest.approx(cpu_curve.test_loss, rel=1e-3)
    assert weight_matching(spec_for(model), a, b).objective[-1] == pytest.approx(
        weight_matching(spec_for(model), on_gpu[0].state_dict, on_gpu[1].state_dict).objective[-1], rel=1e-9)
