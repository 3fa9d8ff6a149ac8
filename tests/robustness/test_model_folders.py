"""Model folders: what a writer may replace, and what a reader checks before it allocates.

A writer replaces only a model this app wrote (recognised by its config.json), only when told
to, and only that model's own files; a reader checks config.json against bounds and against
the weights' header before it builds anything (docs/RELIABILITY.md, "Model folders").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import engine.chatbot
import engine.checkpoint
from engine import Chatbot
from engine.checkpoint import (
    CONFIG_FILE,
    OPTIMIZER_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    save_checkpoint,
)
from engine.decoding.config import DecodeConfig
from engine.errors import CheckpointError
from engine.model import Seq2Seq
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS
from tests.conftest import SMALL_CORPUS
from tests.robustness.helpers import send_through_controller
from tests.robustness.test_bad_files import one_line, run_main


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under `root` (hidden ones too), with a hash of each file."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_file()
        else "folder"
        for path in sorted(root.rglob("*"))
    }


def train_into(out: Path, *extra: str) -> tuple[int, str, str]:
    return run_main(
        "train", "--corpus", str(SMALL_CORPUS), "--preset", "tiny", "--epochs", "1",
        "--out", str(out), "--device", "cpu", "--progress", "json", *extra,
    )  # fmt: skip


def test_train_out_never_removes_or_replaces_what_is_not_a_model(tmp_path, tiny_model_dir):
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "todo.txt").write_text("my notes")
    (notes / "sub" / "more.txt").write_text("more")
    shutil.copy(SMALL_CORPUS, notes / "corpus.jsonl")
    a_file = tmp_path / "model.bin"
    a_file.write_text("not a folder")
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    (model / "README.md").write_text("my notes on this model")
    before = snapshot(tmp_path)

    for out, words in [(notes, "holds other files"), (a_file, "is not a folder")]:
        code, _, err = train_into(out)
        assert code == 2 and words in one_line(err), err
    code, _, err = train_into(model)  # a model: replacing it must be asked for
    assert code == 2 and "--overwrite" in one_line(err), err
    assert snapshot(tmp_path) == before
    with pytest.raises(CheckpointError, match="holds other files"):
        bot = Chatbot.load(tiny_model_dir, device="cpu")
        save_checkpoint(notes, model=bot.model, tokenizer=bot.tokenizer)
    assert snapshot(tmp_path) == before

    code, _, err = train_into(model, "--overwrite")
    assert code == 0, err
    after = snapshot(tmp_path)
    assert after["model/README.md"] == before["model/README.md"]  # only the model's files went
    assert after["model/model.safetensors"] != before["model/model.safetensors"]
    assert {name for name in after if not name.startswith("model/")} == {
        name for name in before if not name.startswith("model/")
    }, "a partial or old folder was left beside the model"
    retrained = Chatbot.load(model, device="cpu").reply(["hello"], DecodeConfig(strategy="greedy"))
    assert retrained.text.strip() and retrained.tokens


def edited_copy(good: Path, folder: Path, edit) -> Path:
    """A copy of the model in `good` whose config.json `edit(config)` changed."""
    target = Path(shutil.copytree(good, folder))
    config = json.loads((target / CONFIG_FILE).read_text())
    edit(config)
    (target / CONFIG_FILE).write_text(json.dumps(config))
    return target


HUGE_CONFIGS = {
    "hidden_size_1e6": ({"hidden_size": 10**6}, "hidden_size must be a positive integer up to"),
    "embedding_dim_1e7": ({"embedding_dim": 10**7}, "embedding_dim must be"),
    "num_layers_1e5": ({"num_layers": 10**5}, "num_layers must be"),
    "vocab_size_2e64": ({"vocab_size": 2**64}, "vocab_size must be"),
}


@pytest.fixture
def real_models_built(monkeypatch) -> list[str]:
    """The devices models were built on while loading (the size check builds one on `meta`)."""
    built: list[str] = []
    real_init = Seq2Seq.__init__

    def spy(self, config):
        built.append(str(torch.get_default_device()))
        real_init(self, config)

    monkeypatch.setattr(Seq2Seq, "__init__", spy)
    return built


@pytest.mark.parametrize("kind", sorted(HUGE_CONFIGS))
def test_a_config_asking_for_a_huge_model_is_refused_before_anything_is_built(
    tiny_model_dir, tmp_path, real_models_built, kind
):
    changes, message = HUGE_CONFIGS[kind]
    bad = edited_copy(tiny_model_dir, tmp_path / kind, lambda c: c["model"].update(changes))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(bad)
    assert [device for device in real_models_built if device != "meta"] == []


def test_weights_whose_header_does_not_match_are_refused_before_any_tensor_is_read(
    tiny_model_dir, tmp_path, monkeypatch, real_models_built
):
    bot = Chatbot.load(tiny_model_dir, device="cpu")
    weights = {
        name: tensor.to(torch.float16)
        for name, tensor in bot.model.state_dict().items()
        if "encoder.embedding" not in name and "decoder.embedding" not in name
    }
    weights["embedding.weight"] = torch.zeros(4096, 512, dtype=torch.float16)  # 4 MB, wrong
    bad = Path(shutil.copytree(tiny_model_dir, tmp_path / "bad"))
    save_file(weights, str(bad / WEIGHTS_FILE))

    def no_reading(*args, **kwargs):
        raise AssertionError("the tensors were read before their shapes were checked")

    monkeypatch.setattr(engine.checkpoint, "load_file", no_reading)
    real_models_built.clear()  # the good model above
    with pytest.raises(CheckpointError, match=r"embedding.weight: shape \[4096, 512\]"):
        load_checkpoint(bad)
    assert [device for device in real_models_built if device != "meta"] == []


@pytest.mark.parametrize("training", ["a string", 7, ["a", "list"], None])
def test_a_training_record_that_is_not_an_object_is_refused_everywhere(
    qtbot, fast, tiny_model_dir, tmp_path, training
):
    bad = edited_copy(tiny_model_dir, tmp_path / "bad", lambda c: c.update(training=training))
    with pytest.raises(CheckpointError, match="'training' must be an object"):
        Chatbot.load(bad, device="cpu")
    code, _, err = train_into(tmp_path / "resumed", "--resume", str(bad))
    assert code == 2 and "'training' must be an object" in one_line(err), err
    with qtbot.waitSignal(fast.engine.model_load_failed, timeout=REPLY_TIMEOUT_MS):
        fast.engine.load_model(str(bad))
    assert "'training' must be an object" in fast.banner.text()
    assert send_through_controller(qtbot, fast, "still there?").role == "bot"


def test_the_engine_worker_reports_any_failure_to_load(qtbot, fast, monkeypatch):
    class Unreadable:
        model_dir = "somewhere"

        def __getattr__(self, name):
            raise ValueError(f"cannot read {name}")

    monkeypatch.setattr(engine.chatbot.Chatbot, "load", lambda *a, **k: Unreadable())
    with qtbot.waitSignal(fast.engine.model_load_failed, timeout=REPLY_TIMEOUT_MS) as failed:
        fast.engine.load_model("somewhere")
    assert "cannot read" in failed.args[0]


def _plant(kind: str, path: Path) -> str:
    """Put something that is not a regular file at `path`; the words the error should use."""
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
        return "not a regular file"
    if kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
        return "(a link to /dev/zero) is not a regular file"
    if kind == "link_to_nothing":
        path.symlink_to(path.parent / "nowhere")
        return "points at nothing"
    path.mkdir()
    return "is a folder, not a file"


@pytest.mark.parametrize("name", [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, OPTIMIZER_FILE])
@pytest.mark.parametrize("kind", ["fifo", "link_to_dev_zero", "link_to_nothing", "folder"])
def test_a_model_file_that_is_not_a_regular_file_is_named_with_what_is_wrong(
    tiny_model_dir, tmp_path, name, kind
):
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    words = _plant(kind, model / name)
    with pytest.raises(CheckpointError, match=re.escape(words)) as caught:
        load_checkpoint(model, with_optimizer=True)  # as `train --resume` reads it
    assert name in str(caught.value)


def test_a_garbage_tokenizer_error_names_the_file(tiny_model_dir, tmp_path):
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    (model / TOKENIZER_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="SentencePiece") as caught:
        load_checkpoint(model)
    assert str(model / TOKENIZER_FILE) in str(caught.value)
