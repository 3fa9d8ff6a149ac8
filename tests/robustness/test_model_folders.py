"""Model folders: what a writer may replace, and what a reader checks before it allocates.

A writer replaces only a model this app wrote (recognised by its config.json), only when told
to, and only that model's own files; a reader checks config.json against bounds and against
the weights' header before it builds anything (docs/RELIABILITY.md, "Model folders").
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from engine import Chatbot
from engine.checkpoint import save_checkpoint
from engine.errors import CheckpointError
from tests.conftest import SMALL_CORPUS
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
    assert Chatbot.load(model, device="cpu").reply(["hello"]).text is not None
