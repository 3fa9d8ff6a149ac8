"""Driving the window the way a user does: typing, pressing Enter, clicking chips."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QStyleOptionViewItem

from chatapp.gui.main_window import MainWindow
from chatapp.store.records import MessageRecord

REPLY_TIMEOUT_MS = 30_000


def send_and_wait(qtbot, window: MainWindow, text: str) -> MessageRecord:
    """Type `text` in the composer, press Enter, and wait for the stored reply."""
    window.composer.edit.setFocus()
    qtbot.keyClicks(window.composer.edit, text)
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    return blocker.args[0]


def click_chip(qtbot, window: MainWindow, row: int, action: str) -> None:
    view = window.chat_view
    index = window.messages.index(row)
    view.scrollTo(index)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(index)
    rect = window.delegate.chip_center(option, index, action)
    assert rect is not None, f"no {action!r} chip on row {row}"
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.center()))
