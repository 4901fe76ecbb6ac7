"""The permutation spec of an architecture on a data set, as `lmctui-cli spec` shows it.

Nothing is read from or written to the registry: the model is built fresh for the data
set's input shape and classes, and its spec is the one every use takes
(`core.specs.spec_for`: hand-written for the built-ins, traced otherwise), verified
against the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmctui.choices import ARCHS
from lmctui.configs import DataConfig, ModelConfig, check_choice
from lmctui.errors import FieldError


@dataclass(frozen=True)
class SpecRequest:
    arch: str
    data: DataConfig = DataConfig()
    width: int = ModelConfig.width
    depth: int = ModelConfig.depth
    norm: str = ModelConfig.norm
    arch_args: tuple[str, ...] = ()  # KEY=VALUE texts for a model of your own

    def validate(self) -> "SpecRequest":
        """Refuse what the fields alone decide, before torch is imported."""
        check_choice(self.arch, "arch", ARCHS)
        if self.arch_args:
            raise FieldError("arch_args", f"apply to your own models only, not {self.arch}")
        self.data.validate()
        return self

    def model_config(self, input_shape: tuple[int, ...], num_classes: int) -> ModelConfig:
        return ModelConfig(self.arch, self.width, self.depth, self.norm, tuple(input_shape), num_classes)


def describe(request: SpecRequest) -> dict:
    """The spec's groups (name, size, the weights and axes each acts on), its pinned units and why,
    the share of hidden units it permutes, and whether it passed verification."""
    request.validate()
    from lmctui.core.data import load_dataset
    from lmctui.core.specs import spec_report

    data = load_dataset(request.data)
    config = request.model_config(data.input_shape, data.num_classes).validate()
    return {"model": config.to_dict(), "dataset": request.data.name, **spec_report(config)}
