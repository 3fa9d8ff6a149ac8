"""Issue #26 item 3: deleting a chat while its reply is generated, Undo, and a kill inside the
Undo window (docs/RELIABILITY.md, "Deleting a chat").

Deleting stops the chat's reply and drops its queued turns first, so no late save fails on a
chat that is gone (that error used to take the banner, and Undo with it). The chat is deleted
for real only when the Undo window closes, so Undo restores it whole and a kill inside the
window loses nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import Qt

from chatapp.gui import undoable
from chatapp.store import Store
from engine.chatbot import Chatbot
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, send_and_wait, settle
from tests.chatapp.gui.menus import choose_from_menu
from tests.robustness.helpers import spawn


def slow_replies(monkeypatch, window) -> None:
    """Long sampled replies, each decoding step slowed: a delete surely comes mid-reply."""
    import time

    real = Chatbot.reply

    def slowly(self, history, config=None, *, should_stop=None, **kwargs):
        def stop() -> bool:
            time.sleep(0.02)
            return bool(should_stop and should_stop())

        return real(self, history, config, should_stop=stop, **kwargs)

    monkeypatch.setattr(Chatbot, "reply", slowly)
    panel = window.decoding_panel
    panel.set_config(panel.config.replace(strategy="sample", min_length=200, max_length=200))


def test_deleting_a_chat_mid_reply_cancels_it_and_undo_brings_back_every_turn(
    qtbot, fast, store, monkeypatch
):
    window = fast
    send_and_wait(qtbot, window, "hello")
    chat = window.controller.conversation_id
    slow_replies(monkeypatch, window)
    with qtbot.waitSignal(window.engine.token_generated, timeout=REPLY_TIMEOUT_MS):
        window.composer.set_text("tell me a long story")
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    window.composer.set_text("and another")  # queued behind the reply
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.controller.queued == 1
    choose_from_menu(qtbot, window.sidebar.list_view, window.conversations.row_of(chat), "Delete…")
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=5000)  # cancelled, not finished
    settle(qtbot, window)
    assert window.controller.queued == 0
    assert window.banner.text() == "Deleted “hello”." and window.banner.action_button.isVisible()
    assert window.conversations.row_of(chat) < 0 and window.controller.conversation_id is None
    assert store.history(chat)[-1] == "tell me a long story"  # nothing saved after the delete
    qtbot.mouseClick(window.banner.action_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert window.controller.conversation_id == chat and window.conversations.row_of(chat) >= 0
    assert [window.messages.item(row).text for row in (0, 2)] == ["hello", "tell me a long story"]
    assert "could not be saved" not in window.banner.text()


def test_a_deleted_chat_goes_for_real_when_the_undo_window_closes(qtbot, fast, store, monkeypatch):
    monkeypatch.setattr(undoable, "UNDO_MS", 300)
    send_and_wait(qtbot, fast, "hello")
    chat = fast.controller.conversation_id
    choose_from_menu(qtbot, fast.sidebar.list_view, fast.conversations.row_of(chat), "Delete…")
    settle(qtbot, fast)
    assert [c.id for c in store.list_conversations()] == [chat]  # kept while Undo is offered
    qtbot.waitUntil(lambda: store.list_conversations() == [], timeout=5000)
    assert "Deleted" not in fast.banner.text()


def test_closing_the_window_inside_the_undo_window_deletes_the_chat(qtbot, fast, store):
    send_and_wait(qtbot, fast, "hello")
    chat = fast.controller.conversation_id
    choose_from_menu(qtbot, fast.sidebar.list_view, fast.conversations.row_of(chat), "Delete…")
    fast.close()  # the user meant it, and did not take it back
    assert store.list_conversations() == []


# The window in a child process: delete the only chat through the sidebar, say so, wait to be
# killed (SIGKILL: no close event, no atexit, as a crash or a power cut).
KILLED_IN_UNDO_WINDOW = """
import sys
from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication
QCoreApplication.setOrganizationName("Seq2SeqChatTests")
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[2])
app = QApplication([])
from chatapp.gui.context import AppContext, AppPaths
from chatapp.gui.engine_client import EngineClient
from chatapp.gui.main_window import MainWindow
from chatapp.store import Store
store = Store.open(sys.argv[1])
window = MainWindow(AppContext.create(store, EngineClient(device="cpu"), AppPaths(device="cpu")))
window.show()
chat = store.list_conversations()[0].id
window.sidebar.delete_requested.emit(chat)  # what the menu's Delete… sends
window.context.actions.wait_idle()
print(window.banner.text(), window.conversations.row_of(chat), flush=True)
sys.stdin.readline()
"""


def test_a_chat_deleted_inside_the_undo_window_survives_a_kill(tmp_path: Path):
    db = tmp_path / "conversations.db"
    with Store.open(db) as store:
        chat = store.create_conversation("keep me")
        store.add_user_turn(chat.id, "a turn worth keeping")
    child = spawn(KILLED_IN_UNDO_WINDOW, str(db), str(tmp_path / "settings"))
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == "Deleted “keep me”. -1", line or child.stderr.read()
    finally:
        child.kill()  # inside the Undo window
        child.wait(30)
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT title FROM conversations").fetchall()
    finally:
        connection.close()
    assert rows == [("keep me",)]
    with Store.open(db) as store:
        assert store.history(chat.id) == ["a turn worth keeping"]
