"""The latest teaching wins: corrections are ordered by when they were made (issue 26, item 7).

Correcting a newer reply with "Ada" and then an older reply to the same prompt with "Bob" must
leave "Bob" as the answer: the user taught it last.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit

from chatapp.correction_memory import to_corrections
from chatapp.store import Store
from engine.memory import CorrectionMemory
from engine.sources import ReplySource
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, click_chip, send_and_wait
from tests.chatapp.gui.test_text_dialogs import when_dialog_opens
from tests.robustness.helpers import REPO_ROOT, python_env

PROMPT = "what is your name?"


def teach_twice(path: Path) -> None:
    """Two chats ask PROMPT; the newer reply is corrected first ("Ada"), the older one later."""
    with Store.open(path) as store:
        older, newer = store.create_conversation(), store.create_conversation()
        store.add_user_turn(older.id, PROMPT)
        old_reply = store.add_bot_reply(older.id, "i am a bot.")
        store.add_user_turn(newer.id, PROMPT)
        new_reply = store.add_bot_reply(newer.id, "i do not know.")
        store.correct(new_reply.id, "my name is ada.")
        store.correct(old_reply.id, "my name is bob.")


def test_the_store_lists_corrections_in_the_order_they_were_made(tmp_path):
    db = tmp_path / "chat.db"
    teach_twice(db)
    with Store.open(db) as store:
        corrections = store.corrections()
        assert [c.text for c in corrections] == ["my name is ada.", "my name is bob."]
        assert corrections[0].corrected_at < corrections[1].corrected_at
        # Correcting again moves a correction to the end: it is the newest teaching now.
        store.correct(corrections[0].message_id, "my name is ada, really.")
        assert store.corrections()[-1].text == "my name is ada, really."


def test_the_terminal_chat_answers_with_the_latest_correction(tiny_model_dir, tmp_path):
    db = tmp_path / "chat.db"
    teach_twice(db)
    done = subprocess.run(
        [sys.executable, "main.py", "chat", "--db", str(db), "--model", str(tiny_model_dir),
         "--json", "--preset", "precise", "--device", "cpu"],
        input=f"{PROMPT}\n".encode(), capture_output=True, cwd=REPO_ROOT, timeout=120,
        env=python_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout.decode().splitlines()[0])["reply"] == "my name is bob."


def test_an_archive_keeps_when_each_correction_was_made(tmp_path):
    db, other = tmp_path / "chat.db", tmp_path / "other.db"
    teach_twice(db)
    with Store.open(db) as store:
        archive = store.export_archive()
        made = [(c.text, c.corrected_at) for c in store.corrections()]
    with Store.open(other) as store:
        store.import_archive(json.loads(json.dumps(archive)))  # as written to a file
        assert [(c.text, c.corrected_at) for c in store.corrections()] == made


def test_the_window_answers_with_the_latest_correction(qtbot, window, store):
    older = send_and_wait(qtbot, window, PROMPT)
    window.chats.new()
    newer = send_and_wait(qtbot, window, PROMPT)
    with qtbot.waitSignal(window.context.actions.changed):
        window.controller.correct(newer.id, "my name is ada.")
    with qtbot.waitSignal(window.context.actions.changed):
        window.controller.correct(older.id, "my name is bob.")
    window.chats.new()
    assert send_and_wait(qtbot, window, PROMPT).text == "my name is bob."


# One prompt, asked once and answered twice (the reply regenerated): the newer reply is corrected
# first, the older one later. The later teaching answers, whichever reply it was written on.


def teach_one_prompt_twice(store: Store) -> int:
    """The chat above in `store`; returns its id."""
    chat = store.create_conversation()
    store.add_user_turn(chat.id, PROMPT)
    older = store.add_bot_reply(chat.id, "i am a bot.")
    newer = store.add_alternative(older.id, "i do not know.")
    store.correct(newer.id, "my name is ada.")
    store.correct(older.id, "my name is bob.")
    return chat.id


def test_the_memory_built_from_the_store_answers_with_the_later_correction(tmp_path, tiny_bot):
    with Store.open(tmp_path / "chat.db") as store:
        teach_one_prompt_twice(store)
        records = store.corrections()  # what the app and the terminal chat hand the memory
    assert [(r.prompt, r.text) for r in records] == [
        (PROMPT, "my name is ada."),
        (PROMPT, "my name is bob."),
    ]
    memory = CorrectionMemory(to_corrections(records))
    match = memory.lookup(tiny_bot, "What is your name")
    assert match is not None and match.exact
    assert match.correction.reply == "my name is bob."


def test_the_terminal_chat_answers_one_prompt_with_its_later_correction(tiny_model_dir, tmp_path):
    db = tmp_path / "chat.db"
    with Store.open(db) as store:
        teach_one_prompt_twice(store)
    done = subprocess.run(
        [sys.executable, "main.py", "chat", "--db", str(db), "--model", str(tiny_model_dir),
         "--device", "cpu"],
        input=f"{PROMPT}\n".encode(), capture_output=True, cwd=REPO_ROOT, timeout=120,
        env=python_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert "my name is bob." in done.stdout.decode()
    assert "my name is ada." not in done.stdout.decode()


def correct_by_chip(qtbot, window, row: int, text: str) -> None:
    """Click the row's Correct chip, type `text` in the dialog and submit it with Ctrl+Enter."""

    def type_it(dialog) -> None:
        editor = dialog.findChild(QPlainTextEdit)
        editor.selectAll()
        qtbot.keyClicks(editor, text)
        qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    done = when_dialog_opens(qtbot, type_it)
    click_chip(qtbot, window, row, "correct")
    assert done == ["done"]


def test_the_window_answers_one_prompt_with_its_later_correction(qtbot, window, store):
    older = send_and_wait(qtbot, window, PROMPT)
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as regenerated:
        click_chip(qtbot, window, 1, "regenerate")
    newer = regenerated.args[0]
    assert newer.id != older.id and window.messages.item(1).record.id == newer.id
    correct_by_chip(qtbot, window, 1, "my name is ada.")
    click_chip(qtbot, window, 1, "previous")  # back to the older reply
    assert window.messages.item(1).record.id == older.id
    correct_by_chip(qtbot, window, 1, "my name is bob.")
    assert (
        store.get_message(newer.id).corrected_text,
        store.get_message(older.id).corrected_text,
    ) == (
        "my name is ada.",
        "my name is bob.",
    )
    window.activateWindow()  # shortcuts reach the active window (the dialog just closed)
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.conversation_id is None
    reply = send_and_wait(qtbot, window, PROMPT)
    assert reply.text == "my name is bob."
    assert window.messages.item(window.messages.rowCount() - 1).text == "my name is bob."


def test_the_store_hands_liked_replies_after_the_corrections_and_a_correction_wins(
    tmp_path, tiny_bot
):
    """#22: with `liked`, replies rated up join the memory as likes; a reply both rated up and
    corrected is a correction only, and a correction of the prompt beats a later like."""
    with Store.open(tmp_path / "chat.db") as store:
        teach_one_prompt_twice(store)
        store.rate(store.corrections()[-1].message_id, 1)  # corrected: stays a correction
        chat = store.create_conversation()
        store.add_user_turn(chat.id, PROMPT)
        liked = store.add_bot_reply(chat.id, "they call me max.")
        store.rate(liked.id, 1)
        store.add_user_turn(chat.id, "do you like pizza?")
        store.rate(store.add_bot_reply(chat.id, "only with olives.").id, 1)
        assert len(store.corrections()) == 2  # without `liked`, as before
        records = store.corrections(liked=True)
    assert [(r.prompt, r.text, r.kind) for r in records] == [
        (PROMPT, "my name is ada.", "corrected"),
        (PROMPT, "my name is bob.", "corrected"),
        (PROMPT, "they call me max.", "liked"),
        ("do you like pizza?", "only with olives.", "liked"),
    ]
    assert (records[2].conversation_id, records[2].message_id) == (chat.id, liked.id)
    corrections = to_corrections(records)
    assert corrections[2].source is ReplySource.LIKED and str(chat.id) in corrections[2].origin
    memory = CorrectionMemory(corrections)
    assert memory.lookup(tiny_bot, PROMPT).correction.reply == "my name is bob."
    match = memory.lookup(tiny_bot, "do you like pizza")
    assert match.exact and match.correction.source is ReplySource.LIKED
