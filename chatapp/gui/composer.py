"""The message box: multi-line; Enter sends, Shift+Enter adds a line; Send and Stop buttons."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

MAX_MESSAGE_CHARS = 1_000_000  # longer pastes are refused with a message, not truncated silently


class MessageEdit(QPlainTextEdit):
    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    send_requested = Signal(str)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = MessageEdit(self)
        self.edit.setObjectName("composerEdit")
        self.edit.setPlaceholderText("Type a message — Enter to send, Shift+Enter for a new line")
        self.edit.setMaximumHeight(110)
        self.edit.setTabChangesFocus(True)
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.setVisible(False)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 8)
        layout.addWidget(self.edit, 1)
        layout.addLayout(buttons)
        self.edit.textChanged.connect(self._update_send_enabled)
        self.edit.submitted.connect(self._submit)
        self.send_button.clicked.connect(self._submit)
        self.stop_button.clicked.connect(self.stop_requested)
        self._update_send_enabled()

    def text(self) -> str:
        return self.edit.toPlainText()

    def _update_send_enabled(self) -> None:
        self.send_button.setEnabled(bool(self.text().strip()))

    def _submit(self) -> None:
        text = self.text()
        if not text.strip():
            return
        self.send_requested.emit(text)

    def clear(self) -> None:
        self.edit.clear()

    def set_generating(self, generating: bool) -> None:
        self.stop_button.setVisible(generating)

    def focus(self) -> None:
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
