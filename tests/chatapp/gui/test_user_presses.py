"""What users press, pressed (#27 item 6): the Stop button and Esc during a streamed reply, the
Copy chip (read back from the clipboard), and the sidebar's right-click Rename, Pin and Delete.
Each checks what the window shows and what the database holds."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit

from chatapp.gui import undoable
from chatapp.gui.conversation_model import GroupRole, PinnedRole
from chatapp.gui.message_model import StateRole
from chatapp.store import Store
from tests.chatapp.gui.bare_window import open_bare_window
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, click_chip, send_and_wait, settle
from tests.chatapp.gui.menus import choose_from_menu
from tests.chatapp.gui.test_text_dialogs import when_dialog_opens

LONG = 200  # tokens a reply would take unstopped


@pytest.mark.parametrize("how", ["Stop button", "Esc"])
def test_stopping_a_streamed_reply_keeps_what_was_written_marked_stopped(qtbot, window, store, how):
    panel = window.decoding_panel
    panel.set_config(panel.config.replace(strategy="sample", min_length=LONG, max_length=LONG))
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClicks(window.composer.edit, "Tell me a long story")
    with qtbot.waitSignal(window.engine.token_generated, timeout=REPLY_TIMEOUT_MS):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.composer.stop_button.isVisible()
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as stored:
        if how == "Esc":
            qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
        else:
            qtbot.mouseClick(window.composer.stop_button, Qt.MouseButton.LeftButton)
    reply = stored.args[0]
    assert not window.composer.stop_button.isVisible() and not window.controller.busy
    saved = store.get_message(reply.id)
    assert saved.stopped and saved.timings["tokens"] < LONG
    assert store.history(window.controller.conversation_id) == ["Tell me a long story", saved.text]
    assert window.messages.item(1).text == saved.text
    assert window.messages.index(1).data(StateRole) == "stored"


def test_the_copy_chip_puts_the_reply_on_the_clipboard(qtbot, window, store):
    reply = send_and_wait(qtbot, window, "hello")
    QApplication.clipboard().setText("something else")
    click_chip(qtbot, window, 1, "copy")
    assert QApplication.clipboard().text() == reply.text
    assert window.statusBar().currentMessage() == "Copied to the clipboard"
    assert store.get_message(reply.id).text == reply.text  # copying changes nothing stored


def chat_titled(store: Store, title: str) -> int:
    conversation = store.create_conversation(title)
    store.add_user_turn(conversation.id, f"a turn of {title}")
    return conversation.id


def test_rename_pin_and_delete_from_the_sidebars_menu(qtbot, store, monkeypatch):
    monkeypatch.setattr(undoable, "UNDO_MS", 300)
    chat, other = chat_titled(store, "plans"), chat_titled(store, "recipes")
    window = open_bare_window(qtbot, store)
    model, view = window.conversations, window.sidebar.list_view
    qtbot.waitUntil(lambda: model.row_of(chat) >= 0 and model.row_of(other) >= 0, timeout=5_000)

    def type_title(dialog: QInputDialog) -> None:
        line = dialog.findChild(QLineEdit)
        line.selectAll()
        qtbot.keyClicks(line, "weekend plans")
        qtbot.keyClick(line, Qt.Key.Key_Return)

    done = when_dialog_opens(qtbot, type_title)
    choose_from_menu(qtbot, view, model.row_of(chat), "Rename…")
    qtbot.waitUntil(lambda: done == ["done"], timeout=5_000)
    settle(qtbot, window)
    assert store.get_conversation(chat).title == "weekend plans"
    assert model.index(model.row_of(chat)).data() == "weekend plans"

    shown = choose_from_menu(qtbot, view, model.row_of(other), "Pin")
    assert shown[:2] == ["Rename…", "Pin"]
    settle(qtbot, window)
    assert store.get_conversation(other).pinned and not store.get_conversation(chat).pinned
    pinned_row = model.index(model.row_of(other))
    assert pinned_row.data(PinnedRole) and pinned_row.data(GroupRole) == "Pinned"
    assert "Unpin" in choose_from_menu(qtbot, view, model.row_of(other), "Unpin")
    settle(qtbot, window)
    assert not store.get_conversation(other).pinned

    choose_from_menu(qtbot, view, model.row_of(chat), "Delete…")
    settle(qtbot, window)
    assert window.banner.text() == "Deleted “weekend plans”." and model.row_of(chat) < 0
    qtbot.waitUntil(lambda: [c.id for c in store.list_conversations()] == [other], timeout=5_000)
    assert model.row_of(other) >= 0
