"""The message box: multi-line; Enter sends, Shift+Enter adds a line; Send and Stop buttons.

A setting swaps the keys: Ctrl+Enter sends and Enter adds a line, as in other chat apps.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor, QTextOption
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from chatapp.store import MAX_MESSAGE_CHARS

# Qt's default wrap (at word boundaries, else anywhere) is quadratic in the length of a run
# without spaces: a 1 MB paste of one "word" froze the window for minutes. Runs this long wrap
# anywhere instead, which is linear (and such a run has no word boundary to keep anyway).
LONGEST_WORD = 5_000
SEND_KEY_SETTING = "composer/ctrl_enter_sends"


def set_plain_text(edit: QPlainTextEdit, text: str) -> None:
    """`edit.setPlainText(text)`, with a wrap mode that lays out huge unbroken runs quickly."""
    fit_wrap_mode(edit, text)
    edit.setPlainText(text)


def fit_wrap_mode(edit: QPlainTextEdit, text: str) -> None:
    long_run = len(text) > LONGEST_WORD and max(map(len, text.split()), default=0) > LONGEST_WORD
    normal = QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere  # the QPlainTextEdit default
    mode = QTextOption.WrapMode.WrapAnywhere if long_run else normal
    if edit.wordWrapMode() != mode:
        edit.setWordWrapMode(mode)


def too_long_paste(source: QMimeData, room: int) -> str | None:
    """Why pasting `source` where `room` characters are left is refused; None if it fits.

    Measured on the clipboard's bytes first, so a paste far over the limit is refused before
    its text is copied and laid out (50 MB froze the window for 10 s and took 2.8 GB)."""
    sizes = [source.data(kind).size() for kind in source.formats() if kind.startswith("text/plain")]
    if max(sizes, default=0) <= room:  # a character takes at least one byte
        return None
    if min(sizes) <= 4 * room and len(source.text()) <= room:  # and at most four
        return None
    return (
        f"The pasted text is too long: the message would be over its limit of "
        f"{MAX_MESSAGE_CHARS:,} characters (the clipboard holds {max(sizes):,} bytes). "
        "Nothing was pasted."
    )


class MessageEdit(QPlainTextEdit):
    submitted = Signal()
    paste_refused = Signal(str)  # why, in words
    ctrl_enter_sends = False  # False: Enter sends; True: Ctrl+Enter sends, Enter adds a line

    def insertFromMimeData(self, source: QMimeData) -> None:
        """A paste: refused if the message would be too long; else choose the wrap mode for
        the text it makes before Qt lays it out."""
        if source.hasText():
            room = MAX_MESSAGE_CHARS - len(self.toPlainText())
            room += len(self.textCursor().selectedText())  # the paste replaces the selection
            refused = too_long_paste(source, room)
            if refused is not None:
                self.paste_refused.emit(refused)
                return
            fit_wrap_mode(self, self.toPlainText() + source.text())
        super().insertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        modifiers = event.modifiers()
        if self.ctrl_enter_sends:
            sends = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        else:
            sends = not modifiers & Qt.KeyboardModifier.ShiftModifier
        if enter and sends:
            self.submitted.emit()
            return
        if enter:  # Shift+Enter (or Enter in Ctrl+Enter mode): a plain new line
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    send_requested = Signal(str)
    stop_requested = Signal()
    paste_refused = Signal(str)  # a paste that would make the message too long: why

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = MessageEdit(self)
        self.edit.setObjectName("composerEdit")
        self.edit.setMaximumHeight(110)
        self.edit.setTabChangesFocus(True)
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.setVisible(False)
        self.set_ctrl_enter_sends(False)
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
        self.edit.paste_refused.connect(self.paste_refused)
        self.send_button.clicked.connect(self._submit)
        self.stop_button.clicked.connect(self.stop_requested)
        self._update_send_enabled()

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_ctrl_enter_sends(self, ctrl_enter: bool) -> None:
        """Which key sends: Ctrl+Enter (Enter adds a line) or Enter (Shift+Enter adds one)."""
        self.edit.ctrl_enter_sends = ctrl_enter
        keys = "Ctrl+Enter to send, Enter" if ctrl_enter else "Enter to send, Shift+Enter"
        self.edit.setPlaceholderText(f"Type a message — {keys} for a new line")
        self.send_button.setToolTip(f"Send ({'Ctrl+Enter' if ctrl_enter else 'Enter'})")

    def _update_send_enabled(self) -> None:
        self.send_button.setEnabled(bool(self.text().strip()))

    def _submit(self) -> None:
        text = self.text()
        if not text.strip():
            return
        self.send_requested.emit(text)

    def set_text(self, text: str) -> None:
        set_plain_text(self.edit, text)
        self.edit.moveCursor(QTextCursor.MoveOperation.End)

    def clear(self) -> None:
        self.edit.clear()
        fit_wrap_mode(self.edit, "")

    def set_generating(self, generating: bool) -> None:
        self.stop_button.setVisible(generating)

    def focus(self) -> None:
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
