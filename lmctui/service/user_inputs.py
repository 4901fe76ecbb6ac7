"""Your own models and data as a run records them, and the checks before they are used again.

A run of a user model records the arch with an absolute file path (or a module name),
its arguments and the sha256 of the source file; a run on npz / folder data records
the path and the sha256 of the content. Training and import fill those in
(`identified_model`, `identified_data`); align, interpolate and average refuse a run
whose data changed since (`check_data_unchanged`): its curves would not be comparable.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lmctui.configs import DataConfig, ModelConfig, user_data_kind
from lmctui.errors import UserError
from lmctui.usermodel import canonical_arch, source_sha256


def identified_model(config: ModelConfig, home: str | Path | None) -> ModelConfig:
    """A user model's config with its arch canonical (checked against the registry `home`) and its
    source's sha256; a built-in's unchanged."""
    if not config.user:
        return config
    arch = canonical_arch(config.arch, home)
    return replace(config, arch=arch, source_sha256=source_sha256(arch))


def identified_data(config: DataConfig) -> DataConfig:
    """npz / folder data with the sha256 of its content; other data sets unchanged."""
    if not user_data_kind(config.name):
        return config
    from lmctui.core.user_data import content_sha256

    return replace(config, sha256=content_sha256(config))


def check_data_unchanged(doc: dict) -> None:
    """Refuse a run whose npz / folder data is not the content it was made on."""
    config = DataConfig.from_dict(doc["config"]["data"])
    if not user_data_kind(config.name):
        return
    if not config.user_path.exists():
        raise UserError(f"run {doc['id']}'s data {config.user_path} is gone")
    from lmctui.core.user_data import content_sha256

    now = content_sha256(config)
    if config.sha256 is not None and now != config.sha256:
        raise UserError(f"run {doc['id']}'s data {config.user_path} changed since the run was made "
                        f"(sha256 {config.sha256[:12]} then, {now[:12]} now): its curves would not be comparable")


def verified_spec(config: ModelConfig):
    """The permutation spec of a user model, traced and verified (refused in one line when it fails);
    None for a built-in architecture, whose hand-written spec needs no check."""
    if not config.user:
        return None
    from lmctui.core.specs import spec_for

    return spec_for(config)
