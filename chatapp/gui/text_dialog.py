"""The app's text prompts (Better reply…, Edit and resend, Rename): finished by the keyboard.

Ctrl+Enter submits (Enter too in a one-line box; in a multi-line box Enter adds a line), Tab
moves on to the buttons instead of typing a tab, and Esc cancels. A multi-line box wraps its
lines at word boundaries, so a long reply reads without a horizontal scroll bar.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QTextOption
from PySide6.QtWidgets import QDialog, QInputDialog, QLineEdit, QPlainTextEdit, QWidget

SUBMIT_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)  # with Ctrl; Enter is the keypad's key


class _CtrlEnterSubmits(QObject):
    """Ctrl+Enter in the dialog's box accepts the dialog (a key filter on the box itself, so
    it works whichever window the system thinks is active, unlike a window shortcut)."""

    def __init__(self, dialog: QDialog) -> None:
        super().__init__(dialog)
        self._dialog = dialog

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in SUBMIT_KEYS
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self._dialog.accept()
            return True
        return False


def text_dialog(
    parent: QWidget | None, title: str, label: str, text: str = "", *, multiline: bool
) -> QInputDialog:
    """The prompt, not yet shown (`ask_text` runs it)."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setLabelText(f"{label}\n(Ctrl+Enter to submit, Esc to cancel)" if multiline else label)
    dialog.setInputMode(QInputDialog.InputMode.TextInput)
    dialog.setOption(QInputDialog.InputDialogOption.UsePlainTextEditForTextInput, multiline)
    dialog.setTextValue(text)
    editor = dialog.findChild(QPlainTextEdit)
    if multiline and editor is not None:
        editor.setTabChangesFocus(True)
        editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        editor.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        dialog.resize(520, 300)
    submit = _CtrlEnterSubmits(dialog)
    for box in (*dialog.findChildren(QLineEdit), *dialog.findChildren(QPlainTextEdit)):
        box.installEventFilter(submit)
    return dialog


def ask_text(
    parent: QWidget | None, title: str, label: str, text: str = "", *, multiline: bool = False
) -> str | None:
    """The text the user submitted, or None if they cancelled."""
    dialog = text_dialog(parent, title, label, text, multiline=multiline)
    try:
        return dialog.textValue() if dialog.exec() else None
    finally:
        dialog.deleteLater()
