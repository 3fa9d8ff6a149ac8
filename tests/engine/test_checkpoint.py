"""Model directories: exact save/load, crash safety, and a clear error for every bad directory."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine import Chatbot
from engine.checkpoint import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    save_checkpoint,
)
from engine.config import preset
from engine.errors import CheckpointError
from engine.model import Seq2Seq
from engine.tokenizer import BOS_ID, Tokenizer

REPO_ROOT = Path(__file__).resolve().parents[2]


def outputs(model: Seq2Seq) -> torch.Tensor:
    """The model's logits on a fixed little batch."""
    generator = torch.Generator().manual_seed(0)
    src = torch.randint(5, model.config.vocab_size, (2, 6), generator=generator)
    target_in = torch.randint(5, model.config.vocab_size, (2, 4), generator=generator)
    target_in[:, 0] = BOS_ID
    with torch.inference_mode():
        return model.eval()(src, torch.tensor([6, 6]), target_in)


@pytest.fixture
def model_dir(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny model, free to damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_save_load_round_trip_is_exact(model_dir: Path, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(model_dir)
    again = save_checkpoint(
        tmp_path / "again", model=checkpoint.model, tokenizer=checkpoint.tokenizer,
        record={"note": "ünïcode ✓"},
    )  # fmt: skip
    reloaded = load_checkpoint(again)
    assert torch.equal(outputs(reloaded.model), outputs(checkpoint.model))
    assert reloaded.config == checkpoint.config
    assert reloaded.record == {"note": "ünïcode ✓"}
    assert reloaded.tokenizer.to_bytes() == checkpoint.tokenizer.to_bytes()
    assert reloaded.model.decoder.embedding is reloaded.model.encoder.embedding  # still shared
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "model"]  # no leftovers


def test_half_precision_weights_load(model_dir: Path, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(model_dir)
    path = save_checkpoint(
        tmp_path / "half", model=checkpoint.model, tokenizer=checkpoint.tokenizer,
        weights_dtype=torch.bfloat16,
    )  # fmt: skip
    assert json.loads((path / CONFIG_FILE).read_text())["weights_dtype"] == "bfloat16"
    assert torch.allclose(
        outputs(load_checkpoint(path).model), outputs(checkpoint.model), atol=0.1, rtol=0.1
    )


def test_a_figure_that_is_not_finite_is_saved_as_null_and_loads_as_not_measured(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # A run with no validation examples measures NaN; a diverged loss, infinity. JSON has
    # neither: json.dumps would write NaN, which other tools and strict parsers refuse.
    checkpoint = load_checkpoint(tiny_model_dir)
    record = {"corpus": "small", "valid_perplexity": math.nan,
              "finetune": {"pairs": 4, "figures": [61.0, math.inf, -math.inf]}}  # fmt: skip
    saved = save_checkpoint(
        tmp_path / "nan", model=checkpoint.model, tokenizer=checkpoint.tokenizer, record=record
    )
    text = (saved / CONFIG_FILE).read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not strict JSON"))
    bot = Chatbot.load(saved, device="cpu")  # what the app's model info carries
    assert bot.checkpoint.record == {
        "corpus": "small", "valid_perplexity": None,  # not measured
        "finetune": {"pairs": 4, "figures": [61.0, None, None]},
    }  # fmt: skip


def test_optimizer_state_round_trip(model_dir: Path, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(model_dir, with_optimizer=True)
    assert checkpoint.optimizer_state is not None  # training saves it for resume
    optimizer = torch.optim.AdamW(checkpoint.model.parameters())
    optimizer.load_state_dict(checkpoint.optimizer_state)
    saved = save_checkpoint(
        tmp_path / "again", model=checkpoint.model, tokenizer=checkpoint.tokenizer,
        optimizer_state=optimizer.state_dict(),
    )  # fmt: skip
    state = load_checkpoint(saved, with_optimizer=True).optimizer_state
    assert state is not None
    for param, values in optimizer.state_dict()["state"].items():
        for name, value in values.items():
            assert torch.equal(state["state"][param][name], value), (param, name)
    assert load_checkpoint(saved).optimizer_state is None  # only when asked for


KILLER = r"""
import os, signal, sys
import torch
import engine.checkpoint as checkpoint
from engine.config import preset
from engine.model import Seq2Seq
from engine.tokenizer import Tokenizer

target, where = sys.argv[1], sys.argv[2]
tokenizer = Tokenizer.load(os.path.join(target, "tokenizer.model"))
torch.manual_seed(1234)  # a different model from the one on disk
model = Seq2Seq(preset("tiny", vocab_size=tokenizer.vocab_size))

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if where == "weights":  # half of model.safetensors is on disk when the power goes
    real_save_file = checkpoint.save_file
    def save_file(tensors, path, metadata=None):
        real_save_file(tensors, path, metadata=metadata)
        os.truncate(path, os.path.getsize(path) // 2)
        die()
    checkpoint.save_file = save_file
elif where == "config":  # the last file, half written
    real_write = checkpoint._write_bytes
    def write_bytes(path, data):
        if path.name == "config.json":
            path.write_bytes(data[: len(data) // 2])
            die()
        real_write(path, data)
    checkpoint._write_bytes = write_bytes
elif where == "swap":  # between the two renames: the old model moved aside, the new not in
    real_rename = os.rename
    def rename(source, destination):
        real_rename(source, destination)
        die()
    os.rename = rename
checkpoint.save_checkpoint(target, model=model, tokenizer=tokenizer)
"""


@pytest.mark.parametrize("where", ["weights", "config", "swap"])
def test_killed_save_leaves_the_old_model(model_dir: Path, where: str) -> None:
    before = outputs(load_checkpoint(model_dir).model)
    process = subprocess.run(
        [sys.executable, "-c", KILLER, str(model_dir), where],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert process.returncode == -signal.SIGKILL, process.stderr
    leftovers = [p.name for p in model_dir.parent.iterdir() if p.name != "model"]
    assert leftovers, "the save should have been killed half-way"
    assert torch.equal(outputs(load_checkpoint(model_dir).model), before)
    # The next save goes through despite the debris, and replaces the model.
    checkpoint = load_checkpoint(model_dir)
    torch.manual_seed(5)
    other = Seq2Seq(checkpoint.config)
    save_checkpoint(model_dir, model=other, tokenizer=checkpoint.tokenizer)
    assert torch.equal(outputs(load_checkpoint(model_dir).model), outputs(other))


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (CONFIG_FILE, "not a model directory: config.json is missing"),
        (WEIGHTS_FILE, "incomplete: model.safetensors is missing"),
        (TOKENIZER_FILE, "incomplete: tokenizer.model is missing"),
    ],
)
def test_missing_file(model_dir: Path, missing: str, message: str) -> None:
    (model_dir / missing).unlink()
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(model_dir)


@pytest.mark.parametrize("keep", [0, 7, 100, "half", "all but one"])
def test_truncated_weights(model_dir: Path, keep: int | str) -> None:
    path = model_dir / WEIGHTS_FILE
    data = path.read_bytes()
    size = {"half": len(data) // 2, "all but one": len(data) - 1}.get(keep, keep)
    path.write_bytes(data[:size])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_checkpoint(model_dir)


class Bomb:
    """Unpickling it creates `marker`: proof that a loader ran pickle on the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_named_safetensors_is_never_unpickled(
    model_dir: Path, tmp_path: Path, writer: str
) -> None:
    def plant(path: Path, marker: Path) -> None:
        if writer == "pickle":
            path.write_bytes(pickle.dumps({"embedding.weight": Bomb(marker)}))
        else:
            torch.save({"embedding.weight": Bomb(marker)}, path)

    # The bomb is armed: an unpickling loader would set it off.
    probe, probe_marker = tmp_path / "probe.bin", tmp_path / "probe-fired"
    plant(probe, probe_marker)
    if writer == "pickle":
        pickle.loads(probe.read_bytes())
    else:
        torch.load(probe, weights_only=False)
    assert probe_marker.exists()

    marker = tmp_path / "fired"
    plant(model_dir / WEIGHTS_FILE, marker)
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_checkpoint(model_dir)
    assert not marker.exists()


def edit_config(model_dir: Path, **model_changes: object) -> None:
    path = model_dir / CONFIG_FILE
    config = json.loads(path.read_text())
    config["model"].update(model_changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hidden_size": "64"}, "hidden_size must be a positive integer"),
        ({"vocab_size": 359.0}, "vocab_size must be a positive integer"),
        ({"num_layers": True}, "num_layers must be a positive integer"),
        ({"dropout": "0.1"}, "dropout must be in"),
        ({"attention": 3}, "attention must be one of"),
        ({"max_context_tokens": None}, "max_context_tokens must be an integer"),
        ({"colour": "blue"}, "unknown field"),
    ],
)
def test_config_with_wrong_types(model_dir: Path, changes: dict, message: str) -> None:
    edit_config(model_dir, **changes)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint(model_dir)
    assert CONFIG_FILE in str(caught.value)


@pytest.mark.parametrize(
    "text",
    ['{"format": "seq2seq-chat-model", "format_version": 1, "model": [1, 2]}', "{not json", "[]"],
)
def test_corrupt_config(model_dir: Path, text: str) -> None:
    (model_dir / CONFIG_FILE).write_text(text)
    with pytest.raises(CheckpointError, match=CONFIG_FILE):
        load_checkpoint(model_dir)


def test_newer_format_version(model_dir: Path) -> None:
    path = model_dir / CONFIG_FILE
    config = json.loads(path.read_text())
    config["format_version"] = 99
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(model_dir)


def test_weights_of_another_architecture(model_dir: Path, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(model_dir)
    wider = Seq2Seq(preset("tiny", vocab_size=checkpoint.config.vocab_size, hidden_size=32))
    other = save_checkpoint(tmp_path / "other", model=wider, tokenizer=checkpoint.tokenizer)
    shutil.copy(other / WEIGHTS_FILE, model_dir / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match="weights do not match the architecture"):
        load_checkpoint(model_dir)


def test_config_of_another_attention(model_dir: Path) -> None:
    edit_config(model_dir, attention="dot")  # "general" weights have a key projection
    with pytest.raises(CheckpointError, match="weights do not match the architecture"):
        load_checkpoint(model_dir)


def test_tokenizer_of_another_size(model_dir: Path, small_corpus: Path) -> None:
    texts = small_corpus.read_text(encoding="utf-8").splitlines()
    smaller = Tokenizer.train(texts, vocab_size=330)
    assert smaller.vocab_size != load_checkpoint(model_dir).config.vocab_size
    (model_dir / TOKENIZER_FILE).write_bytes(smaller.to_bytes())
    with pytest.raises(CheckpointError, match=f"the tokenizer has {smaller.vocab_size} pieces"):
        load_checkpoint(model_dir)


def test_garbage_tokenizer(model_dir: Path) -> None:
    (model_dir / TOKENIZER_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="SentencePiece"):
        load_checkpoint(model_dir)
