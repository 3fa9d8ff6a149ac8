"""Which model the app runs: the store's active version, or the shipped base model.

The window, the terminal chat's recorder, the API server and the fine-tune job all ask here.
"""

from __future__ import annotations

from pathlib import Path

from chatapp.store.records import ModelVersionRecord
from chatapp.store.repository import Store
from engine.default_model import default_model_dir

BASE_NAME = "base"


def _same_directory(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


def unique_version_name(store: Store, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, ... if a version already has that name."""
    taken = {version.name for version in store.list_model_versions()}
    name, suffix = wanted, 2
    while name in taken:
        name, suffix = f"{wanted}-{suffix}", suffix + 1
    return name


def ensure_model_version(store: Store, directory: str | Path) -> ModelVersionRecord:
    """The version record for `directory`, registered (and made active) if it is new."""
    for version in store.list_model_versions():
        if _same_directory(version.directory, directory):
            return version
    try:
        is_base = _same_directory(directory, default_model_dir())
    except Exception:  # the shipped model may be missing: then nothing is the base
        is_base = False
    wanted = BASE_NAME if is_base else Path(directory).name
    unique = unique_version_name(store, wanted)
    has_active = store.active_model_version() is not None
    return store.add_model_version(
        unique, str(Path(directory).resolve()), is_base=is_base, activate=not has_active
    )


def model_to_load(store: Store, requested: str | None) -> str | None:
    """`--model` wins; else the active version if its folder still exists; else the default."""
    if requested:
        return requested
    active = store.active_model_version()
    if active is not None and Path(active.directory).is_dir():
        return active.directory
    return None
