"""The app's text dialogs finished by the keyboard (issue 24, item 2): Ctrl+Enter submits, Tab
moves on, Esc cancels, and the Better-reply box wraps its lines."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QPlainTextEdit

from tests.chatapp.gui.bare_window import open_bare_window
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, click_chip, send_and_wait

CTRL = Qt.KeyboardModifier.ControlModifier
LONG_REPLY = "a better reply that is long enough to need more than one line in the box " * 3


def when_dialog_opens(qtbot, act: Callable[[QInputDialog], None]) -> list[str]:
    """Run `act` on the modal dialog once it is shown (the click that opens it waits in the
    dialog's own event loop); returns a list that holds "done" once `act` has run and closed
    it ("left open" if it had not: then it is cancelled, so that the test fails, not hangs)."""
    done: list[str] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QInputDialog) and dialog.isVisible():
            act(dialog)
            if dialog.isVisible():
                done.append("left open")
                dialog.reject()
            else:
                done.append("done")
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
    return done


def test_better_reply_wraps_tab_moves_on_and_ctrl_enter_submits(qtbot, window, store):
    reply = send_and_wait(qtbot, window, "Good morning")
    seen: dict[str, object] = {}

    def act(dialog: QInputDialog) -> None:
        editor = dialog.findChild(QPlainTextEdit)
        editor.selectAll()
        qtbot.keyClicks(editor, LONG_REPLY.strip())
        qtbot.keyClick(editor, Qt.Key.Key_Return)  # Enter adds a line, as in the composer
        qtbot.keyClicks(editor, "Second line.")
        seen["h_scroll"] = editor.horizontalScrollBar().maximum()
        seen["lines"] = editor.document().documentLayout().documentSize().height()
        qtbot.keyClick(editor, Qt.Key.Key_Tab)  # moves on, types no tab
        seen["focus_left"] = not editor.hasFocus()
        editor.setFocus()
        qtbot.keyClick(editor, Qt.Key.Key_Return, CTRL)

    done = when_dialog_opens(qtbot, act)
    click_chip(qtbot, window, 1, "correct")
    assert done == ["done"]
    expected = LONG_REPLY.strip() + "\nSecond line."
    qtbot.waitUntil(lambda: store.get_message(reply.id).corrected_text == expected)
    assert seen["h_scroll"] == 0, "the box wraps long lines"
    assert seen["lines"] > 2, "one typed line took several rows"
    assert seen["focus_left"], "Tab moved the focus on"


def test_edit_dialog_esc_cancels_and_ctrl_enter_resends(qtbot, window, store):
    send_and_wait(qtbot, window, "first question")
    conversation = window.controller.conversation_id

    def cancel(dialog: QInputDialog) -> None:
        editor = dialog.findChild(QPlainTextEdit)
        qtbot.keyClicks(editor, " changed")
        qtbot.keyClick(editor, Qt.Key.Key_Escape)

    done = when_dialog_opens(qtbot, cancel)
    click_chip(qtbot, window, 0, "edit")
    assert done == ["done"]
    assert store.history(conversation)[0] == "first question"
    assert not window.controller.busy

    def resend(dialog: QInputDialog) -> None:
        editor = dialog.findChild(QPlainTextEdit)
        editor.selectAll()
        qtbot.keyClicks(editor, "second question")
        qtbot.keyClick(editor, Qt.Key.Key_Enter, CTRL)  # the keypad's Enter works too

    done = when_dialog_opens(qtbot, resend)
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS):
        click_chip(qtbot, window, 0, "edit")
    assert store.history(conversation)[0] == "second question"


def test_rename_submits_with_ctrl_enter(qtbot, window, store):
    send_and_wait(qtbot, window, "hello")
    conversation = window.controller.conversation_id

    def rename(dialog: QInputDialog) -> None:
        line = dialog.findChild(QLineEdit)
        line.selectAll()
        qtbot.keyClicks(line, "Greetings")
        qtbot.keyClick(line, Qt.Key.Key_Return, CTRL)

    done = when_dialog_opens(qtbot, rename)
    window.sidebar.rename_requested.emit(conversation)  # the sidebar's context menu: Rename
    assert done == ["done"]
    qtbot.waitUntil(lambda: store.get_conversation(conversation).title == "Greetings")


def test_a_preset_is_named_and_saved_with_ctrl_enter(qtbot, store):
    window = open_bare_window(qtbot, store)
    panel = window.decoding_panel
    panel.set_config(panel.config.replace(strategy="beam", beam_size=5))

    def name(dialog: QInputDialog) -> None:
        line = dialog.findChild(QLineEdit)
        qtbot.keyClicks(line, "mine")
        qtbot.keyClick(line, Qt.Key.Key_Return, CTRL)

    done = when_dialog_opens(qtbot, name)
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert done == ["done"]
    qtbot.waitUntil(lambda: [p.name for p in store.list_presets()] == ["mine"])
    assert panel.preset_combo.currentText() == "mine"
