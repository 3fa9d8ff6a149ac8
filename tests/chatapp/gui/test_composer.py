"""Which key sends: Enter (Shift+Enter adds a line) by default, Ctrl+Enter when the user asks."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt

from chatapp.gui import saved_settings
from chatapp.gui.composer import SEND_KEY_SETTING, Composer
from tests.chatapp.gui.bare_window import open_bare_window

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def type_lines(qtbot, composer: Composer, new_line: Qt.KeyboardModifier) -> list[str]:
    """Type two lines separated by Enter with `new_line` held, then send; what was sent."""
    sent: list[str] = []
    composer.send_requested.connect(sent.append)
    composer.edit.setFocus()
    qtbot.keyClicks(composer.edit, "line one")
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return, new_line)
    qtbot.keyClicks(composer.edit, "line two")
    assert sent == []  # a new line, not a send
    return sent


def test_enter_sends_and_shift_enter_adds_a_line_by_default(qtbot):
    composer = Composer()
    qtbot.addWidget(composer)
    sent = type_lines(qtbot, composer, SHIFT)
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert sent == ["line one\nline two"]
    assert "Enter to send, Shift+Enter for a new line" in composer.edit.placeholderText()


def test_the_ctrl_enter_setting_sends_with_ctrl_enter_only(qtbot, store):
    window = open_bare_window(qtbot, store)
    composer = window.composer
    assert not window.menus.ctrl_enter_action.isChecked()  # the default stays: Enter sends
    window.menus.ctrl_enter_action.trigger()  # Settings › Send with Ctrl+Enter
    assert "Ctrl+Enter to send, Enter for a new line" in composer.edit.placeholderText()
    sent = type_lines(qtbot, composer, Qt.KeyboardModifier.NoModifier)
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return, SHIFT)  # adds a line as well
    assert sent == []
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return, CTRL)
    assert sent == ["line one\nline two\n"]
    assert saved_settings.data_settings(store.path).value(SEND_KEY_SETTING, type=bool) is True
    assert not QSettings().contains(SEND_KEY_SETTING)
    window.close()
    again = open_bare_window(qtbot, store)  # the choice is kept
    assert again.menus.ctrl_enter_action.isChecked() and again.composer.edit.ctrl_enter_sends
