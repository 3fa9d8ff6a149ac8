"""Where a fine-tune writes: a new directory, never the model it starts from, built in a
hidden partial directory beside it and renamed into place once complete."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from engine.errors import ConfigError

PARTIAL_MARK = ".partial-"  # in the name of the hidden directory a run writes into


def partial_dirs(folder: str | Path, name: str | None = None) -> list[Path]:
    """Leftovers in `folder` of runs that trained towards `folder/name` (any name when None):
    their hidden partial directories `.NAME.partial-PID`, and the checkpoint's staging
    directories inside them (`..NAME.partial-PID.tmp-*`)."""
    folder = Path(folder).absolute()
    if not folder.is_dir():
        return []
    prefixes = (f".{name}{PARTIAL_MARK}", f"..{name}{PARTIAL_MARK}") if name else (".",)
    return sorted(
        path
        for path in folder.iterdir()
        if path.name.startswith(prefixes) and PARTIAL_MARK in path.name and path.is_dir()
    )


def discard_partial(out_dir: str | Path) -> None:
    """Remove what runs towards `out_dir` left behind."""
    out = Path(out_dir).absolute()
    for path in partial_dirs(out.parent, out.name):
        shutil.rmtree(path, ignore_errors=True)


def check_paths(base_dir: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Resolved (base, out); refuses an output that is the base model, inside it, or exists."""
    base, out = Path(base_dir).resolve(), Path(out_dir).absolute()
    if out.resolve() == base or base in out.resolve().parents:
        raise ConfigError(
            f"the output directory {out} must differ from the model it starts from ({base}); "
            "fine-tuning never overwrites a model"
        )
    if out.exists():
        raise ConfigError(f"{out} already exists: choose a new output directory")
    return base, out


def stored_dtype(model_dir: Path) -> torch.dtype:
    """The dtype the base model's weights are stored in (the new version keeps it)."""
    try:
        name = json.loads((model_dir / "config.json").read_text()).get("weights_dtype")
    except (OSError, ValueError):
        name = None
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    return dtype if dtype in (torch.float16, torch.bfloat16) else torch.float32
