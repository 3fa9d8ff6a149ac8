"""Search hits as the sidebar shows them, and the searched words highlighted where they occur.

The store marks each match in a hit's snippet between two private-use characters (never typed
by anyone in practice, unlike "[" and "]", which a message may hold). A hit row shows the chat's
title and the message's date on one line and the snippet under it, wrapped over a few lines,
the matched words in bold on a highlight. The chat a hit opens highlights the same words
wherever they occur in it (`HighlightRole` in the message model; the message delegate paints
it).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPalette,
    QTextCharFormat,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from chatapp.store.records import SearchHit

MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
HIT_ROLE = Qt.ItemDataRole.UserRole + 10
SNIPPET_LINES = 3  # lines of snippet under the title, at most
PADDING = 8
HIGHLIGHT = QColor(255, 214, 0, 150)  # a marker pen's yellow, readable in light and dark themes
_MARKS = re.compile(f"{MARK_OPEN}(.*?){MARK_CLOSE}", re.DOTALL)

Index = QModelIndex | QPersistentModelIndex


def snippet_parts(snippet: str) -> tuple[str, list[tuple[int, int]]]:
    """The snippet's plain text (one line) and the (start, end) of each marked match in it."""
    text, spans, last = "", [], 0
    for match in _MARKS.finditer(snippet):
        text += snippet[last : match.start()]
        spans.append((len(text), len(text) + len(match.group(1))))
        text += match.group(1)
        last = match.end()
    text += snippet[last:]
    return text.replace("\n", " "), spans  # one character for another: the spans still hold


def matched_words(snippet: str) -> tuple[str, ...]:
    """The distinct words the search matched in this snippet, as written there."""
    words: dict[str, str] = {}
    for match in _MARKS.finditer(snippet):
        words.setdefault(match.group(1).casefold(), match.group(1))
    return tuple(words.values())


def highlight_stems(query: str, snippet: str) -> tuple[str, ...]:
    """What to highlight in the chat a hit opens: the words typed (each also as the start of a
    longer word, as the search matched the last one) and the words the snippet marks (which
    the search may have matched without accents, "cafe" for "café")."""
    stems = re.sub(r"\W+", " ", query).split() + list(matched_words(snippet))
    return tuple(dict.fromkeys(stem.casefold() for stem in stems))


def term_spans(text: str, stems: tuple[str, ...]) -> list[tuple[int, int]]:
    """The words of `text` that start with one of `stems`, ignoring case: (start, end) pairs."""
    if not stems:
        return []
    alternatives = "|".join(re.escape(stem) for stem in sorted(stems, key=len, reverse=True))
    pattern = rf"(?<!\w)(?:{alternatives})\w*"
    return [match.span() for match in re.finditer(pattern, text, re.IGNORECASE)]


def hit_date(moment: datetime, today: date | None = None) -> str:
    """`7 Dec` this year, `7 Dec 2025` before, in local time."""
    local = moment.astimezone()
    today = today or datetime.now().astimezone().date()
    return f"{local.day} {local:%b}" + ("" if local.year == today.year else f" {local.year}")


def paint_spans(
    painter: QPainter,
    text: str,
    lines: tuple[tuple[int, int, float], ...],
    spans: list[tuple[int, int]],
    metrics: QFontMetrics,
    origin: QPointF,
) -> None:
    """A highlight behind each span, line by line (`lines`: the delegate's wrapped lines)."""
    painter.save()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(HIGHLIGHT)
    for start, length, y in lines:
        for first, last in spans:
            left, right = max(first, start), min(last, start + length)
            if left >= right:
                continue
            x = origin.x() + metrics.horizontalAdvance(text[start:left])
            width = metrics.horizontalAdvance(text[left:right])
            painter.drawRoundedRect(
                QRect(int(x) - 1, int(origin.y() + y), width + 2, metrics.height()), 3, 3
            )
    painter.restore()


class SearchHitDelegate(QStyledItemDelegate):
    """A hit: title and date, then the snippet with its matches emphasised."""

    @staticmethod
    def _fonts(option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        title = QFont(option.font)
        title.setBold(True)
        small = QFont(option.font)
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        return title, small

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        title, _ = self._fonts(option)
        lines = SNIPPET_LINES if index.data(HIT_ROLE) is not None else 0
        height = QFontMetrics(title).height() + lines * QFontMetrics(option.font).lineSpacing()
        return QSize(200, height + 3 * PADDING)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        hit: SearchHit | None = index.data(HIT_ROLE)
        if hit is None:  # "No messages match."
            super().paint(painter, option, index)
            return
        painter.save()
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawPrimitive(
            QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget
        )
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        color = option.palette.color(role)
        rect = option.rect.adjusted(PADDING, PADDING, -PADDING, -PADDING)
        title_font, small = self._fonts(option)
        line = QFontMetrics(title_font).height()
        date = hit_date(hit.created_at)
        date_width = QFontMetrics(small).horizontalAdvance(date) + PADDING
        painter.setPen(color)
        painter.setFont(small)
        left, right = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight
        middle = Qt.AlignmentFlag.AlignVCenter
        painter.drawText(QRect(rect.left(), rect.top(), rect.width(), line), right | middle, date)
        painter.setFont(title_font)
        title_rect = QRect(rect.left(), rect.top(), rect.width() - date_width, line)
        title = QFontMetrics(title_font).elidedText(
            hit.conversation_title, Qt.TextElideMode.ElideRight, title_rect.width()
        )
        painter.drawText(title_rect, left | middle, title)
        top = rect.top() + line + PADDING // 2
        self._paint_snippet(painter, option, hit, QRect(rect.left(), top, rect.width(), 0))
        painter.restore()

    @staticmethod
    def _paint_snippet(
        painter: QPainter, option: QStyleOptionViewItem, hit: SearchHit, rect: QRect
    ) -> None:
        text, spans = snippet_parts(hit.snippet)
        emphasis = QTextCharFormat()
        emphasis.setFontWeight(QFont.Weight.Bold)
        emphasis.setBackground(HIGHLIGHT)
        emphasis.setForeground(QColor("#222"))  # dark on yellow, in either theme
        layout = QTextLayout(text, option.font)
        wrap = QTextOption()
        wrap.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(wrap)
        formats = []
        for start, end in spans:
            change = QTextLayout.FormatRange()
            change.start, change.length, change.format = start, end - start, emphasis
            formats.append(change)
        layout.setFormats(formats)
        layout.beginLayout()
        y = 0.0
        for _ in range(SNIPPET_LINES):
            text_line = layout.createLine()
            if not text_line.isValid():
                break
            text_line.setLineWidth(rect.width())
            text_line.setPosition(QPointF(0, y))
            y += text_line.height()
        layout.endLayout()
        layout.draw(painter, QPointF(rect.left(), rect.top()))
