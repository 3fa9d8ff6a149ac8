"""Faults: a killed process, a full disk, a locked or deleted database, a deleted model.

After each: the app (or the next run) keeps going, the database opens, `PRAGMA
integrity_check` is ok and every committed turn is there. Kills during a store write, a model
save and a fine-tune are tested where those parts live (see docs/RELIABILITY.md).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import engine.checkpoint
from chatapp.commands import build_parser
from chatapp.commands import chat as chat_command
from chatapp.commands.decoding_options import decode_config_from_args
from chatapp.commands.recorder import StoreRecorder
from chatapp.gui.main_window import MainWindow
from chatapp.store import Store
from engine import Chatbot
from engine.decoding.config import DecodeConfig
from engine.errors import CheckpointError
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS
from tests.database_checks import integrity
from tests.robustness.helpers import open_window, send_through_controller, spawn
from tests.robustness.test_bad_files import one_line, run_main

GREEDY = DecodeConfig(strategy="greedy")
HELLO_REPLY = "hi there! how are you?"  # what the tiny model (tests/conftest.py) answers

# Kill -9 during a reply ---------------------------------------------------------------------

# The terminal chat, with each token of the second reply slowed down so that the kill is sure to
# land in the middle of generating it (the model and the store are the real ones).
SLOW_CHAT = """
import sys, time
import engine.chatbot as chatbot

real_generate, calls = chatbot.generate, []

def generate(*args, on_token=None, **kwargs):
    calls.append(1)
    def on_token(text):
        if len(calls) == 2:
            print("generating", flush=True, file=sys.stderr)
            time.sleep(0.05)
    return real_generate(*args, on_token=on_token, **kwargs)

chatbot.generate = generate
import main
sys.exit(main.main(sys.argv[1:]))
"""


def test_kill_9_during_a_reply_keeps_the_committed_turns(tiny_model_dir, tmp_path):
    db = tmp_path / "chat.db"
    child = spawn(
        SLOW_CHAT, "chat", "--model", str(tiny_model_dir), "--db", str(db), "--json",
        "--device", "cpu", "--strategy", "sample", "--min-length", "40", "--max-length", "40",
    )  # fmt: skip
    try:
        assert child.stdin and child.stdout and child.stderr
        child.stdin.write("hello\n")
        child.stdin.flush()
        first = child.stdout.readline()
        assert first.startswith("{"), child.stderr.read()
        child.stdin.write("tell me a long story\n")
        child.stdin.flush()
        while (line := child.stderr.readline()) and line.strip() != "generating":
            pass
        assert line, "the second reply never started"
        child.kill()  # SIGKILL, mid-generation: no cleanup, no atexit
    finally:
        child.kill()
        child.communicate(timeout=30)
    assert child.returncode == -9
    assert integrity(db) == "ok"
    with Store.open(db) as store:
        (conversation,) = store.list_conversations()
        history = store.history(conversation.id)
    assert history == ["hello", json.loads(first)["reply"], "tell me a long story"]


# Disk full -----------------------------------------------------------------------------------


def test_a_full_disk_under_the_database_loses_nothing_committed(qtbot, tiny_model_dir, tmp_path):
    db = tmp_path / "full.db"
    Store.open(db).close()
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]
    store = Store.open(db, max_page_count=pages + 60)  # ~240 kB more, then "disk is full"
    window = open_window(qtbot, store, tiny_model_dir)
    stored: list[str] = []
    window.controller.reply_stored.connect(lambda record, _: stored.append(record.text))
    accepted: list[str] = []
    for index in range(100):
        text = f"turn {index} " + "z" * 15_000
        window.composer.set_text(text)
        window.send(text)
        # The turn, then its reply, are written off the GUI thread: wait for both.
        qtbot.waitUntil(lambda: not window.controller.busy, timeout=REPLY_TIMEOUT_MS)
        if "disk is full" in window.banner.text() and "not sent" in window.banner.text():
            break  # the turn was the write that did not fit
        accepted.append(text)
        if "disk is full" in window.banner.text():
            break  # the reply was the write that did not fit
    else:
        pytest.fail("the disk never filled up")
    assert "What was saved before is intact" in window.banner.text()
    if window.composer.text():
        assert window.composer.text() == text, "the unsaved turn stays in the box"
    conversation = window.controller.conversation_id
    # Reading goes on: the conversation list, search, reopening the conversation.
    window.chats.refresh()
    window.chats.search("turn")
    window.chats.open(conversation)
    assert window.messages.rowCount() >= len(accepted)
    window.close()
    store.close()

    assert integrity(db) == "ok"
    with Store.open(db) as reopened:  # space freed
        history = reopened.history(conversation)
    assert history[0::2] == accepted and history[1::2] == stored
    assert len(accepted) >= 2


def test_a_full_disk_under_the_model_folder_leaves_the_old_model(
    tiny_model_dir, tmp_path, monkeypatch
):
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.iterdir()}
    real_write = engine.checkpoint._write_bytes

    def full_disk(path: Path, data: bytes) -> None:
        real_write(path, data[: len(data) // 2])  # half of it fits, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(engine.checkpoint, "_write_bytes", full_disk)
    bot = Chatbot.load(model, device="cpu")
    with pytest.raises(OSError, match="No space left"):
        engine.checkpoint.save_checkpoint(model, model=bot.model, tokenizer=bot.tokenizer)
    code, _, err = run_main(
        "train", "--corpus", "tests/fixtures/small_corpus.jsonl", "--preset", "tiny",
        "--epochs", "1", "--out", str(model), "--overwrite", "--device", "cpu",
        "--progress", "json",
    )  # fmt: skip
    assert code == 2, err
    assert "cannot write the model to" in one_line(err) and "No space left" in err
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.iterdir()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "a partial folder was left"
    assert Chatbot.load(model, device="cpu").reply(["hello"], GREEDY).text == HELLO_REPLY


# A locked database -----------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


def test_a_database_locked_by_another_process(qtbot, tiny_model_dir, tmp_path):
    db = tmp_path / "locked.db"
    store = Store.open(db, busy_timeout=0.3)
    window = open_window(qtbot, store, tiny_model_dir)
    first = send_through_controller(qtbot, window, "before the lock")
    conversation = window.controller.conversation_id
    holder = spawn(HOLD_LOCK, str(db))
    try:
        assert holder.stdout and holder.stdout.readline().strip() == "locked"
        window.composer.set_text("during the lock")
        window.send("during the lock")
        # The turn is saved off the GUI thread: the refusal comes back a moment later.
        qtbot.waitUntil(lambda: "locked by another program" in window.banner.text())
        assert window.composer.text() == "during the lock", "the unsaved turn stays in the box"
        window.chats.open(conversation)  # reading goes on (WAL)
        assert window.messages.rowCount() == 2
    finally:
        holder.communicate("release\n", timeout=30)
    second = send_through_controller(qtbot, window, "after the lock")
    window.close()
    store.close()
    assert integrity(db) == "ok"
    with Store.open(db) as reopened:
        assert reopened.history(conversation) == [
            "before the lock", first.text, "after the lock", second.text,
        ]  # fmt: skip


def test_the_terminal_chat_goes_on_when_the_database_is_locked(
    tiny_model_dir, tmp_path, monkeypatch
):
    db = tmp_path / "chat.db"
    store = Store.open(db, busy_timeout=0.2)
    recorder = StoreRecorder(store, store.create_conversation().id, None)
    monkeypatch.setattr(chat_command, "_open_recorder", lambda args, bot: recorder)
    args = build_parser().parse_args(["chat", "--strategy", "greedy", "--json"])
    config = decode_config_from_args(args)
    bot = Chatbot.load(tiny_model_dir, device="cpu")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    out = io.StringIO()
    try:
        assert chat_command.chat_loop(bot, args, config, io.StringIO("one\ntwo\n"), out) == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert out.getvalue() == ""  # nothing was answered that was not saved
    assert chat_command.chat_loop(bot, args, config, io.StringIO("three\n"), out) == 0
    assert out.getvalue().count("\n") == 1
    assert store.history(recorder.conversation_id)[0] == "three"
    store.close()
    assert integrity(db) == "ok"


# A deleted database file ------------------------------------------------------------------------


def test_deleting_the_database_file_while_open_refuses_writes_and_keeps_reads(
    qtbot, fast: MainWindow, store: Store, tmp_path
):
    first = send_through_controller(qtbot, fast, "before the deletion")
    conversation = fast.controller.conversation_id
    store.path.unlink()
    fast.composer.set_text("after the deletion")
    fast.send("after the deletion")
    qtbot.waitUntil(lambda: not fast.controller.busy)  # the turn is written off the GUI thread
    assert "was deleted or replaced while the app had it open" in fast.banner.text()
    assert fast.composer.text() == "after the deletion"
    assert not store.path.exists(), "nothing was written to a new file at the old path"
    # What the app has open can still be read and exported, so nothing needs to be lost.
    fast.chats.open(conversation)
    assert fast.messages.rowCount() == 2, fast.banner.text()
    fast.db_watcher.check()  # the deletion seen: nothing reads, so no new empty file appears
    assert not store.path.exists()
    archive = store.export_archive()
    with Store.open(tmp_path / "rescued.db") as rescued:
        rescued.import_archive(archive)
        (copy,) = rescued.list_conversations()
        assert rescued.history(copy.id) == ["before the deletion", first.text]
    assert integrity(tmp_path / "rescued.db") == "ok"


# A deleted model folder -----------------------------------------------------------------------


def test_deleting_the_model_folder_while_loaded(qtbot, store, tiny_model_dir, tmp_path):
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    bot = Chatbot.load(model, device="cpu")
    window = open_window(qtbot, store, model)
    send_through_controller(qtbot, window, "hello")
    shutil.rmtree(model)
    assert bot.reply(["hello"], GREEDY).text == HELLO_REPLY  # the weights are in memory
    reply = send_through_controller(qtbot, window, "still there?")
    with pytest.raises(CheckpointError, match="does not exist"):
        Chatbot.load(model, device="cpu")
    with qtbot.waitSignal(window.engine.model_load_failed, timeout=REPLY_TIMEOUT_MS):
        window.engine.load_model(str(model))
    assert "does not exist" in window.banner.text()
    assert "Still chatting with the model loaded before" in window.banner.text()
    later = send_through_controller(qtbot, window, "and now?")
    assert store.history(window.controller.conversation_id)[-3:] == [
        reply.text, "and now?", later.text,
    ]  # fmt: skip
    window.close()
    assert integrity(store.path) == "ok"
