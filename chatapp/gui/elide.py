"""Text cut to a width the way a reader expects: at a word, and never the part that tells
two things apart.

- A chat's title keeps its "(2)" suffix: six chats called "hi" must stay told apart however
  narrow the sidebar, so the title itself is cut, not the number.
- The status bar's labels cut at a word boundary ("12 tokens/" read as a glitch); the whole
  text shows as a tooltip.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QFontMetrics, QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QToolTip, QWidget

ELLIPSIS = "…"
_SUFFIX = re.compile(r"^(.*?)(\s\(\d+\))$", re.DOTALL)  # what `conversation_model.labels` adds


def elide_at_word(metrics: QFontMetrics, text: str, width: int) -> str:
    """`text` if it fits in `width` px, else its longest start that ends at a word and fits
    with "…" after it (a single word too long for the width is cut where it must be)."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    cut = metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)
    kept = cut.removesuffix(ELLIPSIS)
    if kept and len(kept) < len(text) and not text[len(kept)].isspace():
        at_word = kept.rstrip().rsplit(" ", 1)[0] if " " in kept.strip() else kept
        kept = at_word
    kept = kept.rstrip(" ,;:·/-")
    return kept + ELLIPSIS if kept else cut


def elide_keeping_suffix(metrics: QFontMetrics, text: str, width: int) -> str:
    """A title cut to `width` px with its " (2)" suffix kept whole at the end."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    match = _SUFFIX.match(text)
    if match is None:
        return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)
    base, suffix = match.groups()
    room = width - metrics.horizontalAdvance(suffix)
    return metrics.elidedText(base, Qt.TextElideMode.ElideRight, max(0, room)) + suffix


class ElidedLabel(QLabel):
    """A one-line label that may be narrower than its text: it shows as much as fits, cut at a
    word with "…", and the whole text as its tooltip. `text()` stays the whole text."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            shown = self.shown_text()
            if shown != self.text():  # cut: the tooltip starts with the whole text
                tip = "\n\n".join(t for t in (self.text(), self.toolTip()) if t)
                QToolTip.showText(event.globalPos(), tip, self)
                return True
        return super().event(event)

    def shown_text(self) -> str:
        return elide_at_word(self.fontMetrics(), self.text(), self.contentsRect().width())

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(
            min(hint.width(), self.fontMetrics().horizontalAdvance("M" * 6)), hint.height()
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(self.alignment() | Qt.AlignmentFlag.AlignVCenter),
            self.palette(),
            self.isEnabled(),
            self.shown_text(),
            self.foregroundRole(),
        )
        painter.end()
