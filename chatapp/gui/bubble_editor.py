"""Selecting text in a chat bubble: a read-only editor laid over the bubble, text for text.

The chat is painted by a delegate (no widget per message), so a double-click opens an editor
on the bubble. It used to come up with its own margins, so the text jumped a few pixels and
the word clicked on was not selected. This editor has no frame, no document margin and a
transparent background: its text sits where the painted text was (the bubble stays painted
under it) and the word under the pointer is selected, as in any text field.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from chatapp.gui.composer import set_plain_text


def bubble_editor(parent: QWidget, text: str, font: QFont, padding: int) -> QPlainTextEdit:
    """A read-only, selectable copy of a bubble's text, to be given the bubble's rect."""
    editor = QPlainTextEdit(parent)
    editor.setReadOnly(True)  # only so the text can be selected and copied
    editor.setFont(font)
    editor.setFrameShape(QPlainTextEdit.Shape.NoFrame)
    editor.document().setDocumentMargin(0)
    editor.setViewportMargins(padding, padding, padding, 0)
    editor.setStyleSheet("QPlainTextEdit { background: transparent; }")
    editor.viewport().setAutoFillBackground(False)
    editor.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    editor.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    set_plain_text(editor, text)
    return editor


def select_word_at(editor: QPlainTextEdit, point: QPoint) -> None:
    """Select the word at `point` (editor coordinates) once the editor is laid out."""

    def select() -> None:
        at = editor.viewport().mapFrom(editor, point)
        cursor = editor.cursorForPosition(at)
        cursor.select(QTextCursor.SelectionType.WordUnderCursor)
        editor.setTextCursor(cursor)

    QTimer.singleShot(0, editor, select)
