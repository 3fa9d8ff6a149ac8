"""A non-blocking message strip above the composer (errors never open a modal box).

A message can carry one action button (Undo after a delete): pressing it runs the action and
hides the strip; a later message, closing the strip or the time running out drops the action and
runs its `expired` callback (a deferred delete is done for real then).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget


class BannerKind(enum.StrEnum):
    """What a banner message is; its colour says so. A string (from `AppSignals.message_shown`,
    which crosses threads as text) is read with `BannerKind(text)`."""

    ERROR = "error"  # something failed: stays until closed
    WARNING = "warning"  # it went on, but not as asked (a model kept, versions not recorded)
    INFO = "info"  # how it went, or what to do next

    @property
    def color(self) -> str:
        return {"error": "#f8d7da", "warning": "#fff3cd", "info": "#d1ecf1"}[self.value]


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # error texts may quote user input
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton(self)
        self.action_button.setObjectName("bannerAction")
        self.action_button.hide()
        self.action_button.clicked.connect(self._run_action)
        self._action: Callable[[], None] | None = None
        self._expired: Callable[[], None] | None = None
        self.kind = BannerKind.INFO
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_message(
        self,
        text: str,
        *,
        kind: BannerKind | str = BannerKind.ERROR,
        timeout_ms: int = 0,
        action: tuple[str, Callable[[], None]] | None = None,
        expired: Callable[[], None] | None = None,
    ) -> None:
        """Show `text`; `expired` runs once if `action` is dropped without being pressed."""
        self._drop_action()
        self.kind = BannerKind(kind)  # an unknown kind is a bug: ValueError, not a grey strip
        self.setStyleSheet(
            f"#banner {{ background: {self.kind.color}; border-radius: 4px; }}"
            "#banner QLabel { color: #222; }"
        )
        self.label.setText(text)
        self._action = action[1] if action else None
        self._expired = expired if action else None
        self.action_button.setText(action[0] if action else "")
        self.action_button.setVisible(action is not None)
        self.show()
        if timeout_ms:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    def _run_action(self) -> None:
        action, self._action, self._expired = self._action, None, None
        self.hide()
        if action is not None:
            action()

    def _drop_action(self) -> None:
        expired, self._action, self._expired = self._expired, None, None
        if expired is not None:
            expired()

    def hide(self) -> None:
        """Hide the strip; an action not pressed by now is dropped (its `expired` runs)."""
        self._drop_action()
        super().hide()

    def expire(self) -> None:
        """Drop the action now, as when the window closes (for a deferred delete)."""
        self._drop_action()
        self.action_button.hide()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
