"""Use case: register networks trained outside lmctui (`lmctui-cli import`).

Every file is read, checked against the model and evaluated before anything is
written: a file that is not a state dict, a name or shape that does not fit, refuses
the whole import with nothing registered. Each network then becomes a run like any
other (`kind: imported`), with the file it came from and that file's sha256.

Torch-free at import (the CLI refuses bad input without it); the work imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lmctui.configs import DataConfig, ModelConfig, check, check_device
from lmctui.records import RunRecord, finite, run_view
from lmctui.service.user_inputs import identified_data, identified_model, verified_spec
from lmctui.usermodel import canonical_arch, check_arch_args, is_user_arch

MAX_IMPORTED = 256  # files one import may register
KEY_PREFIX_LIMIT = 200
SOURCE = "imported"


@dataclass(frozen=True)
class ImportRequest:
    """Register `files` as runs of `arch` on `data`."""

    files: tuple[str, ...]
    data: DataConfig = field(default_factory=DataConfig)
    arch: str = "mlp"
    width: int | None = ModelConfig.width
    depth: int = ModelConfig.depth
    norm: str = "none"
    arch_args: dict = field(default_factory=dict)
    key_prefix: str | None = None  # stripped from every name that starts with it (module., model.)
    tags: tuple[str, ...] = ()
    device: str = "auto"

    def validate(self, home: str | Path | None = None) -> "ImportRequest":
        """Checks that need no torch; the arch made canonical (an absolute file path) in the copy returned."""
        check(0 < len(self.files) <= MAX_IMPORTED, "files", f"must name 1 to {MAX_IMPORTED} weight files")
        for name in self.files:
            path = Path(name).expanduser()
            check(path.is_file(), "files", f"{name} is not a file")
        check(len(set(map(_resolved, self.files))) == len(self.files), "files", "name the same file twice")
        check(self.key_prefix is None or 0 < len(self.key_prefix) <= KEY_PREFIX_LIMIT, "key_prefix",
              f"must be 1 to {KEY_PREFIX_LIMIT} characters")
        check_device(self.device)
        request = replace(self, arch=canonical_arch(self.arch, home)) if is_user_arch(self.arch) else self
        request.data.validate()
        check_arch_args(request.arch, request.arch_args)
        request.model_config((1, 1, 1), 2).validate()
        return request

    def model_config(self, input_shape: tuple[int, ...], num_classes: int) -> ModelConfig:
        return ModelConfig(self.arch, self.width, self.depth, self.norm, tuple(input_shape), num_classes,
                           dict(self.arch_args))


def _resolved(name: str) -> str:
    return str(Path(name).expanduser().resolve())


def import_runs(registry, request: ImportRequest, say=lambda text: None) -> list[dict]:
    """Check and evaluate every file, then register each as a run; return their records."""
    from lmctui.core.devices import resolve_device

    request = request.validate(registry.home)
    device = resolve_device(request.device)
    data_config, data = _load_data(request.data)
    model_config = identified_model(request.model_config(data.input_shape, data.num_classes).validate(),
                                    registry.home)
    verified_spec(model_config)
    networks = []
    for name in request.files:
        say(f"checking {name}")
        networks.append(_checked_network(Path(name).expanduser().resolve(), model_config, request.key_prefix,
                                         data.to(device), device))
    return [_register(registry, request, data_config, model_config, str(device), *network) for network in networks]


def _load_data(config: DataConfig):
    from lmctui.core.data import load_dataset

    return identified_data(config), load_dataset(config)


def _checked_network(path: Path, model_config: ModelConfig, prefix: str | None, data, device) -> tuple:
    """(path, file sha256, state dict, metrics) of one file: read, checked and evaluated."""
    from lmctui.core.evaluation import evaluate
    from lmctui.core.external_weights import check_against, read_state_file, strip_prefix
    from lmctui.core.models import build_model
    from lmctui.store.runfiles import file_sha256

    model = build_model(model_config)
    state = check_against(strip_prefix(read_state_file(path), prefix), model, path)
    model.load_state_dict(state)
    model.to(device)
    train_loss, train_acc = evaluate(model, data.x_train, data.y_train)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    metrics = {"train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc}
    return path, file_sha256(path), state, metrics


def _register(registry, request: ImportRequest, data_config: DataConfig, model_config: ModelConfig, device: str,
              path: Path, file_sha: str, state: dict, metrics: dict) -> dict:
    from lmctui.store.registry import now
    from lmctui.store.runfiles import WEIGHTS, save_weights

    config = {"data": data_config.to_dict(), "model": model_config.to_dict(), "train": None, "init_from": None}
    record = RunRecord(kind=SOURCE, dataset=data_config.name, arch=model_config.arch, width=model_config.width,
                       depth=model_config.depth if model_config.arch == "mlp" else None, norm=model_config.norm,
                       config=config, tags=list(request.tags), device=device,
                       extra={"source": SOURCE, "source_file": str(path), "source_file_sha256": file_sha})
    doc = registry.insert("runs", {**record.to_doc(), "started": now()})
    run_dir = registry.run_dir(doc["id"])  # the registry wrote the config there
    try:
        weights_sha = save_weights(run_dir / WEIGHTS, state)
    except OSError as err:
        registry.update("runs", doc["id"], {"status": "failed", "finished": now(), "error": f"cannot write: {err}"})
        raise
    registry.update("runs", doc["id"], finite({"status": "done", "finished": now(), "weights_sha256": weights_sha,
                                               **metrics}))
    return {**run_view(registry.get("runs", doc["id"])), "source_file": str(path)}

