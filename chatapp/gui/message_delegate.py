"""Paints chat bubbles and their action chips; messages are always plain text.

Text is laid out with `QTextLayout` (never parsed as HTML). Each stored bot reply has a row of
chips under it (copy, regenerate, alternatives, rating, a better reply, details); user turns
have copy and edit. The same `_chip_rects` lays the chips out for painting and for clicks.
Double-clicking a bubble opens a read-only editor over it (bubble_editor.py), the word under
the pointer selected.
"""

from __future__ import annotations

import weakref
from functools import lru_cache

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPalette,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import (
    QPlainTextEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from chatapp.gui.bubble_editor import bubble_editor, select_word_at
from chatapp.gui.chip_actions import ChipAction
from chatapp.gui.message_model import (
    AlternativeRole,
    ChatItem,
    CorrectionRole,
    HighlightRole,
    ItemRole,
    RatingRole,
    RoleRole,
    SourceRole,
    StateRole,
    StoppedRole,
)
from chatapp.gui.search_results import paint_spans, term_spans

Index = QModelIndex | QPersistentModelIndex
DISPLAY_LIMIT = 20_000  # characters painted; longer messages say so (Copy copies them whole)
MARGIN, PADDING, CHIP_HEIGHT, CHIP_GAP = 8, 10, 22, 6
BUBBLE_SHARE = 0.78
CORRECTION_LABEL = "✎ Corrected — you taught: "
STOPPED_TEXT = "Stopped before a reply was chosen."
STOPPED_MARK = "(stopped)"
# Shown whether or not the row is pointed at: where a branch goes on, and the way out of a stop.
ALWAYS_SHOWN = {ChipAction.PREVIOUS, ChipAction.COUNTER, ChipAction.NEXT, ChipAction.RETRY}


def display_text(text: str, state: str) -> str:
    if state == "thinking":
        return text or "thinking…"  # the controller may say what it is working on
    if state == "stopped":
        return STOPPED_TEXT
    if len(text) > DISPLAY_LIMIT:
        hidden = len(text) - DISPLAY_LIMIT
        return f"{text[:DISPLAY_LIMIT]}\n… ({hidden:,} more characters: use Copy to get them all)"
    return text


@lru_cache(maxsize=2048)
def _layout_lines(text: str, font_key: str, width: int) -> tuple[tuple[int, int, float], ...]:
    """(start, length, y) of each wrapped line; cached because paint and sizeHint both ask."""
    font = QFont()
    font.fromString(font_key)
    # QTextLayout breaks lines only at U+2028, never at "\n" (which it draws as nothing): a
    # Shift+Enter showed "line oneline two". One UTF-16 unit for another keeps the offsets.
    layout = QTextLayout(text.replace("\n", "\u2028"), font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    layout.beginLayout()
    lines, y = [], 0.0
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        lines.append((line.textStart(), line.textLength(), y))
        y += line.height()
    layout.endLayout()
    return _code_point_lines(text, lines)


def _code_point_lines(
    text: str, lines: list[tuple[int, int, float]]
) -> tuple[tuple[int, int, float], ...]:
    """Qt counts UTF-16 units; a Python `str` counts code points. Each emoji or other character
    beyond U+FFFF is two units, so without this, lines after one were sliced out shifted."""
    if len(text.encode("utf-16-le")) == 2 * len(text):
        return tuple(lines)  # all in the BMP: the two counts agree
    index_of_unit: dict[int, int] = {}
    unit = 0
    for index, char in enumerate(text):
        index_of_unit[unit] = index
        unit += 2 if ord(char) > 0xFFFF else 1
    index_of_unit[unit] = len(text)
    converted = []
    for start, length, y in lines:
        first = index_of_unit.get(start, len(text))
        converted.append((first, index_of_unit.get(start + length, len(text)) - first, y))
    return tuple(converted)


def _chip_height(metrics: QFontMetrics) -> int:
    return max(CHIP_HEIGHT, metrics.height() + 6)


def _text_size(text: str, font: QFont, width: int) -> QSize:
    lines = _layout_lines(text, font.toString(), width)
    metrics = QFontMetrics(font)
    widest = max(
        (metrics.horizontalAdvance(text[s : s + n].rstrip("\n")) for s, n, _ in lines), default=0
    )
    return QSize(min(width, widest + 2), max(1, len(lines)) * metrics.lineSpacing())


class MessageDelegate(QStyledItemDelegate):
    action_triggered = Signal(object, int)  # ChipAction, row

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Per row content (dropped with it): {(width, font key): height}.
        self._heights: weakref.WeakKeyDictionary[ChatItem, dict[tuple[int, str], int]] = (
            weakref.WeakKeyDictionary()
        )
        self._double_click: QPoint | None = None  # where the bubble being opened was clicked

    # Geometry -----------------------------------------------------------------------------
    @staticmethod
    def chips(index: Index) -> list[tuple[ChipAction, str]]:
        """(action, label) pairs shown under a message."""
        if index.data(StateRole) == "stopped":
            return [(ChipAction.RETRY, "Retry")]
        if index.data(StateRole) != "stored":
            return []
        alternative, count = index.data(AlternativeRole)
        steps = [
            (ChipAction.PREVIOUS, "‹"),
            (ChipAction.COUNTER, f"{alternative + 1}/{count}"),
            (ChipAction.NEXT, "›"),
        ]
        copy = (ChipAction.COPY, "Copy")
        if index.data(RoleRole) == "user":  # an edited turn: ‹ 1/2 › between its branches
            return [copy, (ChipAction.EDIT, "Edit")] + (steps if count > 1 else [])
        rating = index.data(RatingRole)
        if index.data(StoppedRole):  # cut short: the way on is to try again, shown always
            chips = [copy, (ChipAction.RETRY, "Retry")]
        else:
            chips = [copy, (ChipAction.REGENERATE, "Regenerate")]
        if count > 1:
            chips += steps
        correct = "Edit correction…" if index.data(CorrectionRole) else "Better reply…"
        chips += [
            (ChipAction.LIKE, "✔ Good" if rating > 0 else "Good"),
            (ChipAction.DISLIKE, "✘ Bad" if rating < 0 else "Bad"),
            (ChipAction.CORRECT, correct),
            (ChipAction.DETAILS, "Details…"),
        ]
        return chips

    def _bubble_width(self, option: QStyleOptionViewItem) -> int:
        return max(120, int(option.rect.width() * BUBBLE_SHARE) - 2 * PADDING)

    def _bubble_rect(self, option: QStyleOptionViewItem, index: Index) -> QRect:
        text = display_text(index.data() or "", index.data(StateRole))
        size = _text_size(text or " ", option.font, self._bubble_width(option))
        width, height = size.width() + 2 * PADDING, size.height() + 2 * PADDING
        if index.data(RoleRole) == "user":
            left = option.rect.right() - MARGIN - width
        else:
            left = option.rect.left() + MARGIN
        return QRect(left, option.rect.top() + MARGIN, width, height)

    def _chip_rects(
        self, option: QStyleOptionViewItem, index: Index
    ) -> list[tuple[ChipAction, str, QRect]]:
        """Chips in rows under the bubble: at a large font or in a narrow window they wrap
        instead of running off the edge (Details… stays reachable)."""
        chips = self.chips(index)
        if not chips:
            return []
        bubble = self._bubble_rect(option, index)
        metrics = QFontMetrics(self._chip_font(option))
        height = _chip_height(metrics)
        widths = [metrics.horizontalAdvance(label) + 12 for _, label in chips]
        room = max(max(widths), option.rect.width() - 2 * MARGIN)
        rows: list[list[int]] = [[]]
        used = 0
        for number, width in enumerate(widths):
            if rows[-1] and used + CHIP_GAP + width > room:
                rows.append([])
                used = 0
            used += (CHIP_GAP if rows[-1] else 0) + width
            rows[-1].append(number)
        user = index.data(RoleRole) == "user"
        rects = []
        for row_number, row in enumerate(rows):
            total = sum(widths[n] for n in row) + CHIP_GAP * (len(row) - 1)
            x = bubble.right() - total if user else bubble.left()
            x = max(option.rect.left() + MARGIN, x)
            y = self._content_bottom(option, index) + 4 + row_number * (height + 4)
            for number in row:
                action, label = chips[number]
                rects.append((action, label, QRect(x, y, widths[number], height)))
                x += widths[number] + CHIP_GAP
        return rects

    def _source_rect(self, option: QStyleOptionViewItem, index: Index) -> QRect | None:
        """Under a reply the model did not write: who did, on one small line, always shown."""
        label = index.data(SourceRole)
        if not label or index.data(StateRole) != "stored":
            return None
        bubble = self._bubble_rect(option, index)
        metrics = QFontMetrics(self._chip_font(option))
        width = min(metrics.horizontalAdvance(label) + 2, option.rect.width() - 2 * MARGIN)
        return QRect(bubble.left() + PADDING, bubble.bottom() + 2, width, metrics.height())

    def _correction_rect(self, option: QStyleOptionViewItem, index: Index) -> QRect | None:
        """Under a corrected reply: the reply the user taught, in a box of its own."""
        correction = index.data(CorrectionRole)
        if not correction or index.data(StateRole) != "stored":
            return None
        bubble = self._bubble_rect(option, index)
        source = self._source_rect(option, index)
        top = (source.bottom() if source else bubble.bottom()) + 4
        font = self._chip_font(option)
        text = CORRECTION_LABEL + display_text(correction, "stored")
        size = _text_size(text, font, self._bubble_width(option))
        width = max(size.width(), QFontMetrics(font).horizontalAdvance(CORRECTION_LABEL))
        return QRect(bubble.left() + 2 * PADDING, top,
                     width + 2 * PADDING, size.height() + PADDING)  # fmt: skip

    def _content_bottom(self, option: QStyleOptionViewItem, index: Index) -> int:
        correction = self._correction_rect(option, index)
        if correction:
            return correction.bottom()
        source = self._source_rect(option, index)
        return source.bottom() if source else self._bubble_rect(option, index).bottom()

    @staticmethod
    def shows_chips(option: QStyleOptionViewItem) -> bool:
        """Chips are painted for the reply under the mouse, the selected one and the one with
        keyboard focus, not under every message (their room is kept, so nothing jumps)."""
        state = option.state
        return bool(
            state & QStyle.StateFlag.State_MouseOver
            or state & QStyle.StateFlag.State_Selected
            or state & QStyle.StateFlag.State_HasFocus
        )

    @staticmethod
    def _chip_font(option: QStyleOptionViewItem) -> QFont:
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        # The list view asks for every row's size whenever a row is added or changes (each
        # streamed token): computed once per row content, width and font, that stays cheap in
        # a long conversation. A changed row is a new ChatItem, so it misses the cache.
        item = index.data(ItemRole)
        if item is None:
            return QSize()
        heights = self._heights.setdefault(item, {})
        key = (option.rect.width(), option.font.key())
        height = heights.get(key)
        if height is None:
            bubble = self._bubble_rect(option, index)
            chip_rects = self._chip_rects(option, index)
            bottom = (
                chip_rects[-1][2].bottom() + 3
                if chip_rects
                else self._content_bottom(option, index)
            )
            height = heights[key] = bottom - bubble.top() + 1 + 2 * MARGIN
        return QSize(option.rect.width(), height)

    # Painting -----------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        user = index.data(RoleRole) == "user"
        state = index.data(StateRole)
        dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
        if user:
            fill = QColor("#2f5f9e") if dark else QColor("#d7e7ff")
        else:
            fill = QColor("#3a3d42") if dark else QColor("#eeeff1")
        if state == "queued":
            fill.setAlpha(110)
        bubble = self._bubble_rect(option, index)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(palette.color(QPalette.ColorRole.Highlight))
        else:
            painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(bubble, 10, 10)
        text_color = palette.color(QPalette.ColorRole.Text)
        if state in ("thinking", "queued", "stopped") or index.data(StoppedRole):
            text_color.setAlpha(150)
        painter.setPen(text_color)
        font = QFont(option.font)
        font.setItalic(state == "thinking")
        painter.setFont(font)
        text = display_text(index.data() or "", state)
        width = self._bubble_width(option)
        origin = QPointF(bubble.left() + PADDING, bubble.top() + PADDING)
        metrics = QFontMetrics(font)
        lines = _layout_lines(text or " ", font.toString(), width)
        highlight = term_spans(text, index.data(HighlightRole) or ())
        if highlight:  # the words of the search hit that opened this chat
            paint_spans(painter, text, lines, highlight, metrics, origin)
        for start, length, y in lines if not option.state & QStyle.StateFlag.State_Editing else ():
            line = text[start : start + length].rstrip("\n")  # (an open editor shows the text)
            painter.drawText(QPointF(origin.x(), origin.y() + y + metrics.ascent()), line)
        if index.data(StoppedRole):  # beside the bubble, pointed at or not
            painter.drawText(
                QPointF(bubble.right() + MARGIN, origin.y() + metrics.ascent()), STOPPED_MARK
            )
        self._paint_source(painter, option, index, text_color)
        self._paint_correction(painter, option, index, text_color)
        self._paint_chips(painter, option, index, text_color, every=self.shows_chips(option))
        painter.restore()

    def _paint_source(
        self, painter: QPainter, option: QStyleOptionViewItem, index: Index, color: QColor
    ) -> None:
        rect = self._source_rect(option, index)
        if rect is None:
            return
        font = self._chip_font(option)
        font.setItalic(True)
        painter.setFont(font)
        faint = QColor(color)
        faint.setAlpha(140)
        painter.setPen(faint)
        label = QFontMetrics(font).elidedText(
            index.data(SourceRole), Qt.TextElideMode.ElideRight, rect.width()
        )
        painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)

    def _paint_correction(
        self, painter: QPainter, option: QStyleOptionViewItem, index: Index, color: QColor
    ) -> None:
        rect = self._correction_rect(option, index)
        if rect is None:
            return
        painter.setPen(QColor(46, 160, 67))
        painter.setBrush(QColor(46, 160, 67, 40))
        painter.drawRoundedRect(rect, 6, 6)
        font = self._chip_font(option)
        painter.setFont(font)
        painter.setPen(color)
        text = CORRECTION_LABEL + display_text(index.data(CorrectionRole), "stored")
        metrics = QFontMetrics(font)
        origin = QPointF(rect.left() + PADDING, rect.top() + PADDING / 2 + metrics.ascent())
        for start, length, y in _layout_lines(text, font.toString(), self._bubble_width(option)):
            line = text[start : start + length].rstrip("\n")
            painter.drawText(QPointF(origin.x(), origin.y() + y), line)

    def _paint_chips(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: Index,
        color: QColor,
        *,
        every: bool,
    ) -> None:
        """Every chip (`every`) or only those of ALWAYS_SHOWN."""
        painter.setFont(self._chip_font(option))
        muted = QColor(color)
        muted.setAlpha(170)
        for action, label, rect in self._chip_rects(option, index):
            if not every and action not in ALWAYS_SHOWN:
                continue
            painter.setPen(QColor(128, 128, 128, 90))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if action is not ChipAction.COUNTER:
                painter.drawRoundedRect(rect, 6, 6)
            painter.setPen(muted)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)

    # Interaction --------------------------------------------------------------------------
    def action_at(
        self, option: QStyleOptionViewItem, index: Index, x: int, y: int
    ) -> ChipAction | None:
        for action, _, rect in self._chip_rects(option, index):
            if rect.contains(x, y) and action is not ChipAction.COUNTER:
                return action
        return None

    def chip_center(self, option: QStyleOptionViewItem, index: Index, action: str) -> QRect | None:
        for name, _, rect in self._chip_rects(option, index):
            if name == action:
                return rect
        return None

    def editorEvent(
        self, event: QEvent, model: object, option: QStyleOptionViewItem, index: Index
    ) -> bool:
        if event.type() == QEvent.Type.MouseButtonDblClick and isinstance(event, QMouseEvent):
            self._double_click = event.position().toPoint()  # the word to select in the editor
        if event.type() == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            position = event.position().toPoint()
            action = self.action_at(option, index, position.x(), position.y())
            if action is not None:
                self.action_triggered.emit(action, index.row())
                return True
        return super().editorEvent(event, model, option, index)

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        return bubble_editor(parent, index.data() or "", option.font, PADDING)

    def updateEditorGeometry(
        self, editor: QWidget, option: QStyleOptionViewItem, index: Index
    ) -> None:
        bubble = self._bubble_rect(option, index)
        editor.setGeometry(bubble)
        if self._double_click is not None and isinstance(editor, QPlainTextEdit):
            select_word_at(editor, self._double_click - bubble.topLeft())
            self._double_click = None

    def setModelData(self, editor: QWidget, model: object, index: Index) -> None:
        """Read-only: nothing goes back to the model."""
