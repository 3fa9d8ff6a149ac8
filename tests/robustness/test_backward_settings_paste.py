"""Weak spots closed (issue 26, item 10): a backward model with another tokenizer of the same
size, a `backward` that is a file or a link loop, a settings file that cannot be kept, and a
paste far over the message limit."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtWidgets import QApplication

from chatapp.gui.saved_settings import settings_path
from chatapp.store import MAX_MESSAGE_CHARS
from engine import Chatbot
from engine.checkpoint import TOKENIZER_FILE
from engine.tokenizer import Tokenizer
from tests.robustness.helpers import open_window
from tests.robustness.test_bad_files import run_main

# The backward model -----------------------------------------------------------------------


def another_tokenizer_of_the_same_size(tokenizer: Tokenizer, corpus: Path) -> Tokenizer:
    """A tokenizer trained on the corpus written backwards, with `tokenizer`'s piece count."""
    lines = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    texts = [turn[::-1] for line in lines for turn in (*line["context"], line["response"])]
    other = Tokenizer.train(texts, vocab_size=tokenizer.vocab_size, model_type="bpe")
    assert other.vocab_size == tokenizer.vocab_size and other.to_bytes() != tokenizer.to_bytes()
    return other


def backward_cases(model: Path, small_corpus: Path) -> dict[str, tuple[Path, str]]:
    """Model folders whose backward/ cannot be used, and what the note must say."""
    cases: dict[str, tuple[Path, str]] = {}
    tokenizer = model.parent / "other-tokenizer" / "model"
    shutil.copytree(model, tokenizer)
    forward = Tokenizer.load(model / TOKENIZER_FILE)
    other = another_tokenizer_of_the_same_size(forward, small_corpus)
    (tokenizer / "backward" / TOKENIZER_FILE).write_bytes(other.to_bytes())
    cases["another tokenizer"] = (tokenizer, "another tokenizer")
    for name, make, said in (
        ("a file", lambda folder: folder.write_text("not a model"), "is a file"),
        ("a link loop", lambda folder: folder.symlink_to(folder.name), "loop"),
        ("a dangling link", lambda folder: folder.symlink_to("gone"), "leads nowhere"),
    ):
        copy = model.parent / name.replace(" ", "-") / "model"
        shutil.copytree(model, copy, ignore=shutil.ignore_patterns("backward"))
        make(copy / "backward")
        cases[name] = (copy, said)
    return cases


def test_an_unusable_backward_model_is_named_for_what_is_wrong(
    tiny_model_with_backward_dir, small_corpus, tmp_path, monkeypatch
):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))  # the chat: no turns
    model = tmp_path / "base" / "model"
    shutil.copytree(tiny_model_with_backward_dir, model)
    for name, (folder, said) in backward_cases(model, small_corpus).items():
        bot = Chatbot.load(folder, device="cpu")
        assert bot.backward is None, name
        assert said in (bot.backward_problem or ""), (name, bot.backward_problem)
        code, _, err = run_main("chat", "--model", str(folder), "--device", "cpu",
                                "--strategy", "rerank", "--candidates", "2")  # fmt: skip
        assert code == 0 and said in err and "does not exist" not in err, (name, err)


# Settings that cannot be kept -------------------------------------------------------------


def test_a_binary_settings_file_is_said_once_in_the_banner(qtbot, store, tiny_model_dir):
    settings_path(store.path).write_bytes(os.urandom(4096) + b"\x00[\xff\n=\x00")
    window = open_window(qtbot, store, tiny_model_dir)
    told = window.banner.text()
    assert str(settings_path(store.path)) in told and "could not be read" in told, told
    window.close()


def immutable(path: Path) -> bool:
    """Make `path` unwritable even by root (`chattr +i`); False where that cannot be done."""
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_a_read_only_settings_file_is_said_once_in_the_banner(qtbot, store, tiny_model_dir):
    path = settings_path(store.path)
    path.write_text("[ui]\nfont_size=12\n")
    if os.geteuid() != 0:
        path.chmod(0o444)
    elif not immutable(path):
        pytest.skip("root writes any file, and chattr +i is not available here")
    try:
        window = open_window(qtbot, store, tiny_model_dir)
        told = window.banner.text()
        assert str(path) in told and "cannot be written" in told, told
        window.menus.appearance.font_actions[13].trigger()  # Settings › Font size › Large
        window.close()
        assert path.read_text() == "[ui]\nfont_size=12\n"  # as the banner said
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o644)


# A paste far over the limit ---------------------------------------------------------------


def test_a_paste_over_the_message_limit_is_refused_before_it_is_copied(fast, qtbot):
    fast.composer.set_text("kept ")
    huge = QMimeData()
    huge.setText("x" * (50 * MAX_MESSAGE_CHARS))  # 50 MB, as in the report
    QApplication.clipboard().setMimeData(huge)
    qtbot.keyClick(fast.composer.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert fast.composer.text() == "kept "
    told = fast.banner.text()
    assert "too long" in told and f"{MAX_MESSAGE_CHARS:,}" in told and "pasted" in told, told
    # Up to the limit a paste goes in, as before.
    fitting = QMimeData()
    fitting.setText("y" * (MAX_MESSAGE_CHARS - len("kept ")))
    QApplication.clipboard().setMimeData(fitting)
    qtbot.keyClick(fast.composer.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(fast.composer.text()) == MAX_MESSAGE_CHARS
