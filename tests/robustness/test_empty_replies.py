"""Empty replies (issue 26, item 4): a model can end a reply at once. A blank reply is never
given (the next candidate with text is, or "(no reply)", which is not stored); blank replies an
earlier version stored are skipped as context and survive export, import, Delete and Undo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt

from chatapp.server import ServerSettings
from chatapp.server.runner import LocalServer
from chatapp.store import Store
from engine import Chatbot, DecodeConfig
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.tokenizer import EOS_ID
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, settle
from tests.database_checks import change_behind_the_app
from tests.robustness.helpers import REPO_ROOT, all_texts, open_window, python_env
from tests.server.conftest import client


@pytest.fixture(scope="module")
def eos_first_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model made to rank the end token first at every step: with `min_length 0`
    greedy and sampling end every reply at once (empty), and beam search's best is empty
    while its other candidates hold one token."""
    checkpoint = load_checkpoint(tiny_model_dir)
    decoder = checkpoint.model.decoder
    with torch.no_grad():
        embedding = decoder.embedding.weight  # tied: the output layer is its transpose
        decoder.combine.weight.zero_()
        decoder.combine.bias.copy_(20 * torch.sign(embedding[EOS_ID]))
        embedding[EOS_ID] *= 10
    out = tmp_path_factory.mktemp("eos-first") / "model"
    save_checkpoint(out, model=checkpoint.model, tokenizer=checkpoint.tokenizer)
    return out


def test_a_blank_reply_gives_way_to_the_next_candidate(eos_first_model):
    bot = Chatbot.load(eos_first_model, device="cpu")
    reply = bot.reply(["hello"], DecodeConfig(strategy="beam", min_length=0, n_best=3))
    assert reply.text.strip() and reply.alternatives[0].text == reply.text
    assert all(alternative.text.strip() for alternative in reply.alternatives)
    assert bot.tokenizer.decode(reply.tokens) == reply.text
    assert len(reply.attention) == len(reply.reply_pieces)  # Details… explains this reply
    # Greedy has no other candidate: the reply is blank, for the caller to say so.
    assert bot.reply(["hello"], DecodeConfig(strategy="greedy", min_length=0)).text == ""


def chat(model: Path, db: Path, stdin: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "main.py", "chat", "--model", str(model), "--db", str(db),
         "--device", "cpu", *options],
        input=stdin.encode(), capture_output=True, cwd=REPO_ROOT, timeout=120,
        env=python_env(),
    )  # fmt: skip


def test_the_terminal_chat_says_no_reply_stores_none_and_goes_on(eos_first_model, tmp_path):
    db = tmp_path / "chat.db"
    greedy = ("--strategy", "greedy", "--min-length", "0")
    done = chat(eos_first_model, db, "hello\nhow are you?\n", *greedy)
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert done.stdout.decode().splitlines() == ["bot> (no reply)", "bot> (no reply)"]
    assert "error" not in stderr and stderr.count("no reply") == 2, stderr
    done = chat(eos_first_model, db, "and now?\n", "--json", *greedy)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout.decode())["reply"] == ""  # --json stays exact
    # Only the user turns were stored, never an empty reply.
    assert [role for _, role, _ in all_texts(db)] == ["user", "user", "user"]


def store_with_a_blank_reply(path: Path) -> int:
    """A chat whose first reply is blank, as an earlier version stored it (the store now
    refuses one, so it is written with plain sqlite3)."""
    with Store.open(path) as store:
        conversation = store.create_conversation().id
        store.add_user_turn(conversation, "hello")
        blank = store.add_bot_reply(conversation, "placeholder").id
        store.add_user_turn(conversation, "are you there?")
        store.add_bot_reply(conversation, "yes.")
    change_behind_the_app(path, "UPDATE messages SET text = '' WHERE id = ?", (blank,))
    return conversation


def test_blank_replies_in_a_database_are_skipped_as_context_exported_and_imported(
    tiny_model_dir, tmp_path
):
    db = tmp_path / "chat.db"
    conversation = store_with_a_blank_reply(db)
    with Store.open(db) as store:
        assert store.history(conversation) == ["hello", "are you there?", "yes."]
    done = chat(tiny_model_dir, db, "hello again\n", "--conversation", str(conversation),
                "--strategy", "greedy", "--max-length", "3")  # fmt: skip
    assert done.returncode == 0 and "error" not in done.stderr.decode(), done.stderr.decode()
    assert done.stdout.decode().startswith("bot> ")
    archive = tmp_path / "chats.json"
    exported = subprocess.run(
        [sys.executable, "main.py", "export", "--db", str(db), "--format", "json",
         "--out", str(archive)],
        capture_output=True, cwd=REPO_ROOT, timeout=120, env=python_env(),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr.decode()
    other = tmp_path / "other.db"
    imported = subprocess.run(
        [sys.executable, "main.py", "import", "--db", str(other), str(archive)],
        capture_output=True, cwd=REPO_ROOT, timeout=120, env=python_env(),
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr.decode()
    assert [row[1:] for row in all_texts(other)] == [row[1:] for row in all_texts(db)]


def test_a_chat_with_a_blank_reply_is_deleted_and_undone(qtbot, store, tiny_model_dir):
    conversation = store_with_a_blank_reply(store.path)
    before = all_texts(store.path)
    window = open_window(qtbot, store, tiny_model_dir)
    undo = window.banner.action_button
    window.chats.delete(conversation)
    qtbot.waitUntil(lambda: undo.isVisible() and undo.text() == "Undo", timeout=REPLY_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.conversations.row_of(conversation) < 0)
    qtbot.mouseClick(undo, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.conversations.row_of(conversation) >= 0)
    settle(qtbot, window)
    assert "could not" not in window.banner.text(), window.banner.text()
    window.close()  # the Undo window closes with it: what was undone stays
    assert [row[1:] for row in all_texts(store.path)] == [row[1:] for row in before]


def test_the_window_says_no_reply_and_stores_none(qtbot, store, eos_first_model):
    window = open_window(qtbot, store, eos_first_model)
    panel = window.decoding_panel
    panel.set_config(panel.config.replace(strategy="greedy", min_length=0, max_length=3))
    window.composer.set_text("hello")
    with qtbot.waitSignal(window.controller.busy_changed, timeout=REPLY_TIMEOUT_MS,
                          check_params_cb=lambda busy: not busy):  # fmt: skip
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert "gave no reply" in window.banner.text() and "nothing was stored" in window.banner.text()
    assert [role for _, role, _ in all_texts(store.path)] == ["user"]
    window.close()


def test_the_api_answers_an_empty_reply_and_stores_only_the_turn(eos_first_model, tmp_path):
    db = tmp_path / "chat.db"
    server = LocalServer(ServerSettings(port=0, model_dir=str(eos_first_model), device="cpu",
                                        db_path=str(db)))  # fmt: skip
    server.start()
    try:
        assert server.worker.ready.wait(60) and server.worker.load_error is None
        done = client(server).chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hello"}],
            extra_body={"strategy": "greedy", "min_length": 0},
        )  # fmt: skip
    finally:
        server.stop()
    assert done.choices[0].message.content == ""
    assert [role for _, role, _ in all_texts(db)] == ["user"]
