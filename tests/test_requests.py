"""Typed requests: they survive the JSON a job stores, and refuse bad fields by name, without torch."""

import json
import subprocess
import sys

import pytest

from lmctui.configs import DataConfig, InterpolationOptions, ModelConfig, TrainConfig
from lmctui.errors import FieldError
from lmctui.service.requests import (REQUESTS, AlignRequest, AverageRequest, InterpRequest, SweepRequest,
                                     TrainRequest, request_from_job)

TRAIN = TrainRequest(DataConfig("digits", 500, None, None, True), "vgg", 2, 2, "batch",
                     TrainConfig("adam", None, 0.8, 1e-4, 32, 7, 0.5, "cosine", 0, 0, (0, 3)),
                     seeds=(3, 1), init_seed=None, data_seed=9, init_from="abc@2", device="cpu", tags=("x", "y"),
                     vectorize=False)
EXAMPLES = [
    TRAIN,
    AlignRequest("aaa", "bbb", "activation", 3, "cpu"),
    InterpRequest("aaa", "bbb", ("naive", "activation"), InterpolationOptions(7, False, True), 2, "cuda:1"),
    AverageRequest(("a", "b", "c"), "mergemany", "b", 4),
    SweepRequest(TRAIN, "optimizer", ("sgd", "adam"), ("weight",), 9),
]


@pytest.mark.parametrize("request_", EXAMPLES, ids=lambda r: r.KIND)
def test_requests_round_trip_through_a_jobs_json(request_):
    stored = json.loads(json.dumps(request_.to_params()))
    again = request_from_job({"kind": request_.KIND, "params": stored})
    assert again == request_ and type(again) is type(request_)
    assert REQUESTS[request_.KIND] is type(request_)


def test_configs_round_trip_every_field():
    data = DataConfig("cifar10", 10, 0.5, "/data", True)
    assert DataConfig.from_dict(json.loads(json.dumps(data.to_dict()))) == data
    model = ModelConfig("resnet20", 4, 1, "layer", (3, 32, 32), 10)
    assert ModelConfig.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    train = TrainConfig("sgd", 0.1, 0.5, 0.01, 16, 3, 1.0, "cosine", 5, 6, (1, 2))
    assert TrainConfig.from_dict(json.loads(json.dumps(train.to_dict()))) == train


def test_an_unset_learning_rate_is_the_optimizers_default_and_stored_resolved():
    assert TrainConfig("adam").learning_rate == 1e-3 and TrainConfig("sgd").learning_rate == 0.05
    assert TrainConfig("adam").to_dict()["lr"] == 1e-3
    swept = SweepRequest(TrainRequest(seeds=(0, 1)), "optimizer", ("sgd", "adam"))
    assert [swept.request_for(v).train.learning_rate for v in ("sgd", "adam")] == [0.05, 1e-3]
    fixed = SweepRequest(TrainRequest(train=TrainConfig(lr=0.2), seeds=(0, 1)), "optimizer", ("sgd", "adam"))
    assert {fixed.request_for(v).train.learning_rate for v in ("sgd", "adam")} == {0.2}
    again = request_from_job({"kind": "sweep", "params": json.loads(json.dumps(swept.to_params()))})
    assert again.request_for("adam").train.learning_rate == 1e-3


BAD = [
    (TrainRequest(DataConfig("mnsit")), "dataset"),
    (TrainRequest(width=0), "width"),
    (TrainRequest(width=True), "width"),
    (TrainRequest(depth=10**9), "depth"),
    (TrainRequest(norm="batch"), "norm"),
    (TrainRequest(arch="vgg"), "arch"),
    (TrainRequest(DataConfig("mnist")), "data_dir"),
    (TrainRequest(DataConfig(n_samples=3)), "n_samples"),
    (TrainRequest(DataConfig(noise=float("nan"))), "noise"),
    (TrainRequest(train=TrainConfig(lr=float("inf"))), "lr"),
    (TrainRequest(train=TrainConfig(lr=1e300)), "lr"),
    (TrainRequest(train=TrainConfig(epochs=0)), "epochs"),
    (TrainRequest(train=TrainConfig(warmup_epochs=1e308)), "warmup_epochs"),
    (TrainRequest(train=TrainConfig(weight_decay=float("inf"))), "weight_decay"),
    (TrainRequest(train=TrainConfig(save_epochs=(99,))), "save_epochs"),
    (TrainRequest(seeds=()), "seeds"),
    (TrainRequest(seeds=(2**64,)), "seeds"),
    (TrainRequest(init_seed=-1), "init_seed"),
    (TrainRequest(init_from=""), "init_from"),
    (TrainRequest(device="tpu"), "device"),
    (TrainRequest(tags=("",)), "tag"),
    (AlignRequest("a", "b", "telepathy"), "method"),
    (AlignRequest("a", "b", seed=-1), "seed"),
    (InterpRequest("a", "b", ()), "methods"),
    (InterpRequest("a", "b", options=InterpolationOptions(points=10**8)), "points"),
    (AverageRequest(("a",)), "runs"),
    (AverageRequest(("a", "b"), reference="zzz"), "reference"),
    (SweepRequest(axis="colour"), "sweep"),
    (SweepRequest(values=(0, 4)), "widths"),
    (SweepRequest(TrainRequest(seeds=(0,))), "seeds"),
]


@pytest.mark.parametrize("request_,field", BAD, ids=[f"{r.KIND}-{f}-{i}" for i, (r, f) in enumerate(BAD)])
def test_bad_fields_are_refused_by_name(request_, field):
    with pytest.raises(FieldError) as caught:
        request_.validate()
    assert caught.value.field == field


def test_validating_every_request_imports_no_torch():
    code = ("import sys\n"
            "from lmctui.service.requests import TrainRequest, SweepRequest\n"
            "TrainRequest().validate(); SweepRequest().validate()\n"
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
