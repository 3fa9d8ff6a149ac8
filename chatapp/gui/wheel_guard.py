"""Number boxes and drop-downs take the mouse wheel only once they have the focus.

Scrolling a panel with the wheel used to change whatever box passed under the pointer (Top-k
40 -> 43, and the preset silently became "(custom)"). A guarded box takes the focus only by a
click or Tab (never by the wheel), and while it has none the wheel goes on to the scroll area
around it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QWidget


class _WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Wheel
            and isinstance(watched, QWidget)
            and not watched.hasFocus()
        ):
            # Ignored and filtered: Qt hands an ignored wheel event on to the parent widget.
            event.ignore()
            return True
        return False


def guard_wheel(widget: QWidget) -> QWidget:
    """Make `widget` (a spin box, a combo box) take the wheel only when focused; returns it."""
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_WheelGuard(widget))
    return widget
