"""A model is a directory: `model.safetensors`, `config.json`, `tokenizer.model`.

Saving writes a temporary directory beside the target, fsyncs it and renames it into place, so a
crash never leaves half a model. Loading checks every part and reports one clear error; nothing
is ever unpickled (weights are safetensors, the rest JSON and a SentencePiece protobuf).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.config import ModelConfig
from engine.errors import CheckpointError, ConfigError
from engine.model import Seq2Seq
from engine.tokenizer import Tokenizer

FORMAT = "seq2seq-chat-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.model"
OPTIMIZER_FILE = "optimizer.safetensors"  # optional: lets training resume where it stopped
OWN_FILES = (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE, OPTIMIZER_FILE)  # all a save replaces


@dataclass
class Checkpoint:
    model: Seq2Seq
    tokenizer: Tokenizer
    config: ModelConfig
    directory: Path
    record: dict[str, Any] = field(default_factory=dict)  # training record and metrics
    optimizer_state: dict[str, Any] | None = None


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        os.fchmod(handle.fileno(), 0o644)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _optimizer_tensors(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[Any]]:
    tensors = {
        f"{param}.{name}": value.detach().cpu().contiguous()
        for param, values in state["state"].items()
        for name, value in values.items()
        if isinstance(value, torch.Tensor)
    }
    return tensors, state["param_groups"]


def save_checkpoint(
    directory: str | Path,
    *,
    model: Seq2Seq,
    tokenizer: Tokenizer,
    record: dict[str, Any] | None = None,
    optimizer_state: dict[str, Any] | None = None,
    weights_dtype: torch.dtype = torch.float32,
) -> Path:
    """Write the model directory atomically (a crash leaves the old one, or none, intact).

    Only a model this app wrote is ever replaced, and only its own files (`check_model_folder`).
    """
    target = Path(directory).resolve()
    check_model_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model directory is an ordinary folder
    try:
        weights = {
            name: tensor.detach().to("cpu", weights_dtype).contiguous()
            for name, tensor in model.state_dict().items()
            if name != "decoder.embedding.weight" and name != "encoder.embedding.weight"
        }  # the embedding is shared: store it once
        save_file(weights, str(staging / WEIGHTS_FILE), metadata={"format": FORMAT})
        _fsync_path(staging / WEIGHTS_FILE)
        (staging / WEIGHTS_FILE).chmod(0o644)
        _write_bytes(staging / TOKENIZER_FILE, tokenizer.to_bytes())
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": model.config.to_dict(),
            "tokenizer": {"file": TOKENIZER_FILE, "vocab_size": tokenizer.vocab_size},
            "weights_dtype": str(weights_dtype).removeprefix("torch."),
            "parameters": model.parameter_count(),
            "training": record or {},
        }
        if optimizer_state is not None:
            tensors, groups = _optimizer_tensors(optimizer_state)
            save_file(tensors, str(staging / OPTIMIZER_FILE))
            _fsync_path(staging / OPTIMIZER_FILE)
            config["optimizer_param_groups"] = groups
        text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
        _write_bytes(staging / CONFIG_FILE, text.encode("utf-8"))
        _fsync_path(staging)
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def is_model_folder(directory: Path) -> bool:
    """A folder this app wrote: its config.json says so."""
    try:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(config, dict) and config.get("format") == FORMAT


def check_model_folder(target: str | Path) -> bool:
    """The rule for every writer of a model folder; True when `target` already holds a model.

    Nothing that is not a model this app wrote is removed or replaced: a file, or a non-empty
    folder without our config.json, is refused (`CheckpointError`). Replacing a model is for the
    caller to make explicit (`train --overwrite`); even then only the model's own files go.
    """
    target = Path(target)
    _recover_interrupted_swap(target)
    if not target.exists() and not target.is_symlink():
        return False
    if not target.is_dir():
        raise CheckpointError(
            f"{target} exists and is not a folder; it was left as it is (choose a new folder)"
        )
    if is_model_folder(target):
        return True
    if any(target.iterdir()):
        raise CheckpointError(
            f"{target} is a folder that holds other files, not a model; it was left as it is "
            "(choose a new or empty folder)"
        )
    return False


def _swap_into_place(staging: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.rename(target, old)
    os.rename(staging, target)
    _fsync_path(target.parent)
    if old is not None:
        _finish_swap(old, target)


def _finish_swap(old: Path, target: Path) -> None:
    """Move what the user kept beside the old model into the new folder, then drop the rest."""
    for entry in old.iterdir():
        if entry.name not in OWN_FILES and not (target / entry.name).exists():
            os.rename(entry, target / entry.name)
    _fsync_path(target)
    for name in OWN_FILES:
        (old / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # something unexpected is left in it: keep it
        old.rmdir()


def _recover_interrupted_swap(target: Path) -> None:
    """A crash between the two renames of a save leaves the previous model as `.NAME.old-*`;
    a crash just after them leaves the user's other files there."""
    leftovers = sorted(target.parent.glob(f".{target.name}.old-*"))
    if not leftovers:
        return
    if not target.exists():
        os.rename(leftovers.pop(), target)
    if target.is_dir():
        for old in leftovers:
            _finish_swap(old, target)


def _read_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a model directory: {CONFIG_FILE} is missing")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is corrupt: {error}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Seq2Seq Chat model config")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {config.get('format_version')!r}; "
            f"this app reads version {FORMAT_VERSION}"
        )
    return config


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path.parent} is incomplete: {WEIGHTS_FILE} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a valid safetensors file (truncated or another format): {error}"
        ) from None


def _load_optimizer_state(directory: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    path = directory / OPTIMIZER_FILE
    if not path.is_file() or "optimizer_param_groups" not in config:
        return None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in _load_weights(path).items():
        param, key = name.split(".", 1)
        state.setdefault(int(param), {})[key] = tensor
    return {"state": state, "param_groups": config["optimizer_param_groups"]}


def load_checkpoint(
    directory: str | Path, *, device: torch.device | str = "cpu", with_optimizer: bool = False
) -> Checkpoint:
    directory = Path(directory)
    _recover_interrupted_swap(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model directory {directory} does not exist")
    config_json = _read_config(directory)
    try:
        model_config = ModelConfig.from_dict(config_json.get("model"))
    except ConfigError as error:
        raise CheckpointError(f"{directory / CONFIG_FILE}: {error}") from None
    tokenizer_path = directory / TOKENIZER_FILE
    if not tokenizer_path.is_file():
        raise CheckpointError(f"{directory} is incomplete: {TOKENIZER_FILE} is missing")
    tokenizer = Tokenizer.load(tokenizer_path)
    if tokenizer.vocab_size != model_config.vocab_size:
        raise CheckpointError(
            f"{directory}: the tokenizer has {tokenizer.vocab_size} pieces but the model "
            f"expects {model_config.vocab_size}"
        )
    weights = _load_weights(directory / WEIGHTS_FILE)
    model = Seq2Seq(model_config)
    weights = {name: tensor.float() for name, tensor in weights.items()}
    weights["encoder.embedding.weight"] = weights.get("embedding.weight", torch.empty(0))
    weights["decoder.embedding.weight"] = weights["encoder.embedding.weight"]
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(
            f"{directory}: the weights do not match the architecture in {CONFIG_FILE} ({detail})"
        ) from None
    model.to(device).eval()
    optimizer_state = _load_optimizer_state(directory, config_json) if with_optimizer else None
    return Checkpoint(
        model=model,
        tokenizer=tokenizer,
        config=model_config,
        directory=directory,
        record=config_json.get("training", {}),
        optimizer_state=optimizer_state,
    )
