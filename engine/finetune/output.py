"""Where a fine-tune writes: a new directory, never the model it starts from, built in a
hidden partial directory beside it and renamed into place once complete."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from engine.errors import ConfigError

PARTIAL_MARK = ".partial-"  # in the name of the hidden directory a run writes into


def partial_dirs(out_dir: str | Path) -> list[Path]:
    """Leftovers of runs that trained towards `out_dir` (and their checkpoint staging dirs)."""
    out = Path(out_dir).absolute()
    if not out.parent.is_dir():
        return []
    prefix = f".{out.name}{PARTIAL_MARK}"
    return sorted(
        path for path in out.parent.iterdir() if path.name.startswith((prefix, "." + prefix))
    )


def discard_partial(out_dir: str | Path) -> None:
    for path in partial_dirs(out_dir):
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


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
