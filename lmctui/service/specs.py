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
from lmctui.service.user_inputs import identified_model
from lmctui.usermodel import is_user_arch, parse_arch_args


@dataclass(frozen=True)
class SpecRequest:
    arch: str
    data: DataConfig = DataConfig()
    width: int | None = ModelConfig.width  # None: your own factory's default
    depth: int = ModelConfig.depth
    norm: str = ModelConfig.norm
    arch_args: tuple[str, ...] = ()  # KEY=VALUE texts for a model of your own

    def validate(self) -> "SpecRequest":
        """Refuse what the fields alone decide, before torch is imported."""
        if not is_user_arch(self.arch):
            check_choice(self.arch, "arch", ARCHS)
        if self.arch_args and not is_user_arch(self.arch):
            raise FieldError("arch_args", f"apply to your own models only, not {self.arch}")
        self.data.validate()
        self.model_config((1, 1, 1), 2).validate()
        return self

    def model_config(self, input_shape: tuple[int, ...], num_classes: int) -> ModelConfig:
        return ModelConfig(self.arch, self.width, self.depth, self.norm, tuple(input_shape), num_classes,
                           parse_arch_args(self.arch_args))


def describe(request: SpecRequest) -> dict:
    """The spec's groups (name, size, the weights and axes each acts on), its pinned units and why,
    the share of hidden units it permutes, and whether it passed verification."""
    request.validate()
    from lmctui.core.data import load_dataset
    from lmctui.core.specs import spec_report

    data = load_dataset(request.data)
    config = identified_model(request.model_config(data.input_shape, data.num_classes).validate(), None)
    return {"model": config.to_dict(), "dataset": request.data.name, **spec_report(config)}
