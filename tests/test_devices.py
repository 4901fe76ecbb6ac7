import pytest
import torch

from lmctui.core.devices import resolve_device
from lmctui.errors import FieldError


def test_cpu_and_auto_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "", "--device"])
def test_unknown_devices_name_the_field_not_a_flag(spec):
    with pytest.raises(FieldError) as info:
        resolve_device(spec)
    assert info.value.field == "device" and info.value.problem.startswith("must be auto, cpu or cuda[:N]")
    assert str(info.value).startswith("device must be")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_cuda_is_refused_by_field():
    with pytest.raises(FieldError) as info:
        resolve_device("cuda:0")
    assert info.value.field == "device" and "CUDA is not available" in info.value.problem
