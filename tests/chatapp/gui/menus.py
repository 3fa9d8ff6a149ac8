"""Right-clicking a row and choosing from its context menu, as a user does."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QAbstractItemView, QApplication, QMenu


def choose_from_menu(qtbot, view: QAbstractItemView, row: int, text: str) -> list[str]:
    """Right-click `row` of `view` and click the menu item `text`; returns the items shown."""
    shown: list[str] = []

    def pick() -> None:
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            QTimer.singleShot(20, pick)  # not open yet
            return
        shown.extend(action.text() for action in menu.actions() if action.text())
        for action in menu.actions():
            if action.text() == text:
                menu.setActiveAction(action)
                qtbot.keyClick(menu, Qt.Key.Key_Return)
                return
        menu.close()

    index = view.model().index(row, 0)
    view.scrollTo(index)
    point = view.visualRect(index).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.RightButton, pos=QPoint(point))
    # QTest's clicks go straight to the widget, past the window that turns a right click into
    # a context menu event: send that event as the window would.
    QTimer.singleShot(0, pick)
    global_point = view.viewport().mapToGlobal(point)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, point, global_point)
    QApplication.sendEvent(view.viewport(), event)
    qtbot.waitUntil(lambda: QApplication.activePopupWidget() is None, timeout=5000)
    assert text in shown, f"{text!r} is not in the menu {shown}"
    return shown
