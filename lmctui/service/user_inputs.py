"""Your own models and data as a run records them, and the checks before they are used again.

A run of a user model records the arch with an absolute file path (or a module name),
its arguments and the sha256 of the source file; a run on npz / folder data records
the path and the sha256 of the content. Training and import fill those in
(`identified_model`, `identified_data`); align, interpolate and average refuse a run
whose data changed since (`check_data_unchanged`): its curves would not be comparable.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from lmctui.configs import DataConfig, ModelConfig, image_files, user_data_kind
from lmctui.errors import UserError
from lmctui.usermodel import canonical_arch, is_user_arch, source_change, source_sha256


def identified_model(config: ModelConfig, home: str | Path | None) -> ModelConfig:
    """A user model's config with its arch canonical (checked against the registry `home`) and its
    source's sha256; a built-in's unchanged."""
    if not config.user:
        return config
    arch = canonical_arch(config.arch, home)
    return replace(config, arch=arch, source_sha256=source_sha256(arch))


def content_sha256(config: DataConfig) -> str:
    """The sha256 of an npz file, or of a folder's image files (relative path and bytes, in sorted order)."""
    path, digest = config.user_path, hashlib.sha256()
    files = [path] if user_data_kind(config.name) == "npz" else image_files(path)
    for file in files:
        if file != path:
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def identified_data(config: DataConfig) -> DataConfig:
    """npz / folder data with the sha256 of its content; other data sets unchanged."""
    if not user_data_kind(config.name):
        return config
    return replace(config, sha256=content_sha256(config))


def data_change(doc: dict) -> str | None:
    """Why a run's npz / folder data is not the content it was made on (None when it is, or is not user data)."""
    data = (doc.get("config") or {}).get("data")
    if not isinstance(data, dict) or not user_data_kind(data.get("name")) or data.get("sha256") is None:
        return None
    config = DataConfig.from_dict(data)
    if not config.user_path.exists():
        return f"run {doc['id']}'s data {config.user_path} is gone"
    now = content_sha256(config)
    if now != config.sha256:
        return (f"run {doc['id']}'s data {config.user_path} changed since the run was made "
                f"(sha256 {config.sha256[:12]} then, {now[:12]} now): its curves would not be comparable")
    return None


def check_data_unchanged(doc: dict) -> None:
    """Refuse a run whose npz / folder data is not the content it was made on."""
    why = data_change(doc)
    if why is not None:
        raise UserError(why)


def provenance(doc: dict) -> dict:
    """What `show` adds for a run from outside: where its weights came from, and what changed since."""
    model = (doc.get("config") or {}).get("model") or {}
    notes = [data_change(doc)]
    if is_user_arch(model.get("arch")):
        try:
            notes.append(source_change(model["arch"], model.get("source_sha256")))
        except UserError as err:  # the module no longer imports, the file is gone
            notes.append(f"{model['arch']}: {err}")
    found = {k: doc[k] for k in ("source", "source_file", "source_file_sha256") if doc.get(k) is not None}
    return {**found, "notes": [n for n in notes if n]}


def verified_spec(config: ModelConfig):
    """The permutation spec of a user model, traced and verified (refused in one line when it fails);
    None for a built-in architecture, whose hand-written spec needs no check."""
    if not config.user:
        return None
    try:
        from lmctui.core.specs import spec_for
    except ImportError:  # a tree without the tracer yet (it lands beside this): nothing to verify with
        return None
    return spec_for(config)
