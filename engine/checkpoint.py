"""A model is a directory: `model.safetensors`, `config.json`, `tokenizer.model`.

Saving writes a temporary directory beside the target, fsyncs it and renames it into place, so a
crash never leaves half a model. Loading checks every part and reports one clear error; nothing
is ever unpickled (weights are safetensors, the rest JSON and a SentencePiece protobuf).
"""

from __future__ import annotations

import contextlib
import json
import math
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
from engine.strict_json import strict_dumps
from engine.tokenizer import Tokenizer

FORMAT = "seq2seq-chat-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.model"
OPTIMIZER_FILE = "optimizer.safetensors"  # optional: lets training resume where it stopped
OWN_FILES = (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE, OPTIMIZER_FILE)  # all a save replaces
SHARED_EMBEDDINGS = ("encoder.embedding.weight", "decoder.embedding.weight")  # stored once
# What a model folder may ask for before it is believed (far above any model this app makes).
MAX_CONFIG_BYTES = 10_000_000
MAX_TOKENIZER_BYTES = 100_000_000
MAX_HEADER_BYTES = 100_000_000
MAX_PARAMETERS = 500_000_000
WEIGHT_DTYPES = ("float32", "float16", "bfloat16")
SAFETENSORS_DTYPES = {"F32": 4, "F16": 2, "BF16": 2}  # bytes per element
CONFIG_SCHEMA = (  # key, type, in words (the model itself is checked by ModelConfig)
    ("model", dict, "an object"),
    ("tokenizer", dict, "an object"),
    ("training", dict, "an object"),
    ("optimizer_param_groups", list, "a list"),
)


@dataclass
class Checkpoint:
    model: Seq2Seq
    tokenizer: Tokenizer
    config: ModelConfig
    directory: Path
    record: dict[str, Any] = field(default_factory=dict)  # training record and metrics
    optimizer_state: dict[str, Any] | None = None


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename in it), to the disk."""
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
            if name not in SHARED_EMBEDDINGS
        }  # the embedding is shared: store it once
        save_file(weights, str(staging / WEIGHTS_FILE), metadata={"format": FORMAT})
        fsync_path(staging / WEIGHTS_FILE)
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
            fsync_path(staging / OPTIMIZER_FILE)
            config["optimizer_param_groups"] = groups
        # A figure the run could not measure (NaN, infinity) is null: strict JSON.
        text = strict_dumps(config, indent=2, ensure_ascii=False) + "\n"
        _write_bytes(staging / CONFIG_FILE, text.encode("utf-8"))
        fsync_path(staging)
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
    fsync_path(target.parent)
    if old is not None:
        _finish_swap(old, target)


def _finish_swap(old: Path, target: Path) -> None:
    """Move what the user kept beside the old model into the new folder, then drop the rest."""
    for entry in old.iterdir():
        if entry.name not in OWN_FILES and not (target / entry.name).exists():
            os.rename(entry, target / entry.name)
    fsync_path(target)
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


def _model_file(directory: Path, name: str) -> Path | None:
    """`directory/name` if it is a regular file; None if it is absent; else what is wrong.

    A link, a FIFO or a device in place of a model file would hang or flood the reader."""
    path = directory / name
    linked = f" (a link to {os.readlink(path)})" if path.is_symlink() else ""
    if not path.exists():
        if linked:
            raise CheckpointError(f"{path}{linked} points at nothing")
        return None
    if path.is_dir():
        raise CheckpointError(f"{path}{linked} is a folder, not a file")
    if not path.is_file():
        raise CheckpointError(
            f"{path}{linked} is not a regular file (a device, a pipe or a socket)"
        )
    return path


def _required_file(directory: Path, name: str, missing: str = "is incomplete") -> Path:
    """The model file `name`; CheckpointError saying "`directory` `missing`" without it."""
    path = _model_file(directory, name)
    if path is None:
        raise CheckpointError(f"{directory} {missing}: {name} is missing")
    return path


def require_format(
    config: object, path: Path, *, name: str, version: int, what: str
) -> dict[str, Any]:
    """`config` when it is a JSON object of format `name` at `version`; CheckpointError naming
    `path` otherwise (a file of another kind, or of a version this app does not read)."""
    if not isinstance(config, dict) or config.get("format") != name:
        raise CheckpointError(f"{path} is not a {what}")
    if config.get("format_version") != version:
        raise CheckpointError(
            f"{path} has format version {config.get('format_version')!r}; "
            f"this app reads version {version}"
        )
    return config


def _read_config(directory: Path) -> dict[str, Any]:
    path = _required_file(directory, CONFIG_FILE, "is not a model directory")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path} is corrupt: over {MAX_CONFIG_BYTES:,} bytes")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise CheckpointError(f"{path} is corrupt: {error}") from None
    config = require_format(
        config, path, name=FORMAT, version=FORMAT_VERSION, what="Seq2Seq Chat model config"
    )
    for key, kind, what in CONFIG_SCHEMA:
        if key in config and not isinstance(config[key], kind):
            raise CheckpointError(f"{path}: {key!r} must be {what}, not {config[key]!r:.60}")
    if config.get("weights_dtype", "float32") not in WEIGHT_DTYPES:
        raise CheckpointError(
            f"{path}: weights_dtype must be one of {', '.join(WEIGHT_DTYPES)}, "
            f"not {config['weights_dtype']!r:.60}"
        )
    return config


def _read_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (dtype, shape) from a safetensors header, checked against the file's size.

    Read with plain JSON before any tensor is: the header says how much memory loading costs.
    """
    bad = f"{path} is not a valid safetensors file (truncated or another format)"
    size = path.stat().st_size
    with path.open("rb") as file:
        prefix = file.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(f"{bad}: no header")
        try:
            header = json.loads(file.read(length))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise CheckpointError(f"{bad}: {error}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{bad}: the header is not an object")
    tensors, data_size = {}, size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        described = _described_tensor(entry, data_size)
        if described is None:
            raise CheckpointError(f"{bad}: tensor {name!r:.60} is described wrongly")
        tensors[name] = described
    return tensors


def _described_tensor(entry: Any, data_size: int) -> tuple[str, tuple[int, ...]] | None:
    """(dtype, shape) of one header entry if it is well formed and fits in the file."""
    if not isinstance(entry, dict) or entry.get("dtype") not in SAFETENSORS_DTYPES:
        return None
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not isinstance(offsets, list) or len(offsets) != 2:
        return None
    if not all(type(n) is int and n >= 0 for n in (*shape, *offsets)):
        return None
    begin, end = offsets
    if end - begin != math.prod(shape) * SAFETENSORS_DTYPES[entry["dtype"]] or end > data_size:
        return None
    return entry["dtype"], tuple(shape)


def _expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every stored weight of `config`'s model, computed without allocating it."""
    with torch.device("meta"):
        model = Seq2Seq(config)
    return {
        name: tuple(tensor.shape)
        for name, tensor in model.state_dict().items()
        if name not in SHARED_EMBEDDINGS
    }


def _check_weights(path: Path, config: ModelConfig) -> None:
    """The weights file holds exactly the tensors `config` describes, in a float dtype."""
    expected = _expected_shapes(config)
    if sum(math.prod(shape) for shape in expected.values()) > MAX_PARAMETERS:
        raise CheckpointError(
            f"{path.parent / CONFIG_FILE} describes a model of over {MAX_PARAMETERS:,} "
            "parameters; this app does not load one that large"
        )
    found = _read_header(path)
    problems = [f"missing {name}" for name in expected if name not in found]
    problems += [f"unexpected {name!r:.60}" for name in found if name not in expected]
    problems += [
        f"{name}: shape {list(found[name][1])} where {list(shape)} was expected"
        for name, shape in expected.items()
        if name in found and found[name][1] != shape
    ]
    if problems:
        raise CheckpointError(
            f"{path.parent}: the weights do not match the architecture in {CONFIG_FILE} "
            f"({'; '.join(problems[:3])})"
        )


class DamagedWeightsError(CheckpointError):
    """A weights file holds NaN or infinite values: every reply from it would be garbage."""


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a valid safetensors file (truncated or another format): {error}"
        ) from None
    for name, tensor in tensors.items():
        # Sampling from such a model dies mid-reply and a fine-tune from it measures nothing.
        if not bool(torch.isfinite(tensor).all()):
            raise DamagedWeightsError(
                f"{path}: tensor {name} holds NaN or infinite values, so the model is damaged "
                "(train it again or choose another)"
            )
    return tensors


def _load_optimizer_state(
    directory: Path, config: dict[str, Any], model: Seq2Seq
) -> dict[str, Any] | None:
    path = _model_file(directory, OPTIMIZER_FILE)
    if path is None or "optimizer_param_groups" not in config:
        return None
    # AdamW keeps two moments the size of each parameter and a step count.
    sizes = [parameter.numel() for parameter in model.parameters()]
    for name, (_, shape) in _read_header(path).items():
        param, _, key = name.partition(".")
        if not (param.isdigit() and int(param) < len(sizes) and key):
            raise CheckpointError(f"{path}: unexpected tensor {name!r:.60}")
        if math.prod(shape) not in (1, sizes[int(param)]):
            raise CheckpointError(f"{path}: {name} has shape {list(shape)}")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in _load_weights(path).items():
        param, key = name.split(".", 1)
        state.setdefault(int(param), {})[key] = tensor
    return {"state": state, "param_groups": config["optimizer_param_groups"]}


def _load_tokenizer(directory: Path) -> Tokenizer:
    path = _required_file(directory, TOKENIZER_FILE)
    if path.stat().st_size > MAX_TOKENIZER_BYTES:
        raise CheckpointError(f"{path} is over {MAX_TOKENIZER_BYTES:,} bytes: not a tokenizer")
    try:
        return Tokenizer.load(path)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """A model folder's tokenizer alone, e.g. to train a new model of another shape on it."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model directory {directory} does not exist")
    return _load_tokenizer(directory)


def read_model_config(directory: str | Path) -> ModelConfig:
    """The architecture a model folder declares, from its config.json alone (no weights read):
    what a caller needs to size its data before loading the model."""
    directory = Path(directory)
    try:
        return ModelConfig.from_dict(_read_config(directory).get("model"))
    except ConfigError as error:
        raise CheckpointError(f"{directory / CONFIG_FILE}: {error}") from None


def load_checkpoint(
    directory: str | Path, *, device: torch.device | str = "cpu", with_optimizer: bool = False
) -> Checkpoint:
    """Load a model folder, checking every part before anything large is allocated."""
    directory = Path(directory)
    _recover_interrupted_swap(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model directory {directory} does not exist")
    config_json = _read_config(directory)
    try:
        model_config = ModelConfig.from_dict(config_json.get("model"))
    except ConfigError as error:
        raise CheckpointError(f"{directory / CONFIG_FILE}: {error}") from None
    tokenizer = _load_tokenizer(directory)
    if tokenizer.vocab_size != model_config.vocab_size:
        raise CheckpointError(
            f"{directory}: the tokenizer has {tokenizer.vocab_size} pieces but the model "
            f"expects {model_config.vocab_size}"
        )
    weights_path = _required_file(directory, WEIGHTS_FILE)
    _check_weights(weights_path, model_config)
    weights = _load_weights(weights_path)
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
    optimizer_state = (
        _load_optimizer_state(directory, config_json, model) if with_optimizer else None
    )
    return Checkpoint(
        model=model,
        tokenizer=tokenizer,
        config=model_config,
        directory=directory,
        record=config_json.get("training", {}),
        optimizer_state=optimizer_state,
    )
