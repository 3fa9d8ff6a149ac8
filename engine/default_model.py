"""Where the shipped default model lives (package data, so it works from an installed wheel)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from engine.errors import CheckpointError


def default_model_dir() -> Path:
    folder = Path(str(resources.files("resources") / "model"))
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"the default model is missing from {folder}; pass --model DIR "
            "or train one with `main.py train`"
        )
    return folder
