"""An attention heat-map: reply words (rows) over context words (columns), with a colour scale.

The engine gives SentencePiece pieces ("▁I", "'", "s"); they are merged into the words a person
reads ("▁" starts a word). A reply word's row is the mean of its pieces' rows (where it looked,
on average); a context word's column is the sum of its pieces' columns (all the attention it
got), so each row still sums to what the pieces' rows did. Cells shrink, down to a legible
size, so that a long reply fits the dialog without scrolling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QLinearGradient,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import QToolTip, QWidget

MIN_CELL, MAX_CELL = 11, 22  # px; below MIN_CELL the labels are too small to read: it scrolls
LEGEND = 34  # px under the map: the colour scale and its numbers
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPECIAL_LABELS = {"<sep>": "⏎", "</s>": "(end)", "<s>": "(start)", "<unk>": "?"}


@dataclass(frozen=True)
class Word:
    text: str
    pieces: tuple[int, ...]  # indices into the piece list


def merge_pieces(pieces: list[str]) -> list[Word]:
    """Pieces joined into words: a piece starting with "▁" or a control symbol starts one."""
    groups: list[list[int]] = []
    for number, piece in enumerate(pieces):
        special = piece in _SPECIAL_LABELS
        after_special = bool(groups) and pieces[groups[-1][0]] in _SPECIAL_LABELS
        if not groups or special or after_special or piece.startswith("\u2581"):
            groups.append([number])
        else:
            groups[-1].append(number)
    return [Word(_word_text([pieces[n] for n in group]), tuple(group)) for group in groups]


def _word_text(pieces: list[str]) -> str:
    if len(pieces) == 1 and pieces[0] in _SPECIAL_LABELS:
        return _SPECIAL_LABELS[pieces[0]]
    data = bytearray()
    for piece in pieces:  # byte-fallback pieces (<0xE2>…) are the UTF-8 bytes of one character
        match = _BYTE_PIECE.fullmatch(piece)
        data += bytes([int(match.group(1), 16)]) if match else piece.encode("utf-8")
    text = data.decode("utf-8", errors="replace").replace("\u2581", " ").strip()
    return text or "∅"


def merge_weights(
    weights: list[list[float]], rows: list[Word], columns: list[Word]
) -> list[list[float]]:
    merged = []
    for word in rows:
        piece_rows = [weights[n] for n in word.pieces if n < len(weights)]
        if not piece_rows:
            break
        merged.append(
            [
                sum(sum(row[n] for n in column.pieces if n < len(row)) for row in piece_rows)
                / len(piece_rows)
                for column in columns
            ]
        )
    return merged


class AttentionView(QWidget):
    def __init__(
        self,
        reply_pieces: list[str],
        context_pieces: list[str],
        weights: list[list[float]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("attentionView")
        reply_words, context_words = merge_pieces(reply_pieces), merge_pieces(context_pieces)
        self.weights = merge_weights(weights, reply_words, context_words)
        self.rows = [word.text for word in reply_words][: len(self.weights)]
        self.columns = [word.text for word in context_words]
        self.scale_max = max((max(row, default=0.0) for row in self.weights), default=0.0) or 1.0
        self._extents: dict[int, tuple[int, int]] = {}
        self.setMinimumSize(self._size_at(MIN_CELL))
        self.setMouseTracking(True)

    # Geometry ------------------------------------------------------------------------------
    def _label_font(self, cell: int) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(max(8, min(QFontMetrics(self.font()).height() - 2, cell - 3)))
        return font

    def _label_extent(self, cell: int) -> tuple[int, int]:
        """Width of the row labels and height of the (rotated) column labels at `cell`."""
        if cell not in self._extents:
            metrics = QFontMetrics(self._label_font(cell))
            left = max((metrics.horizontalAdvance(r) for r in self.rows), default=20) + 8
            top = max((metrics.horizontalAdvance(c) for c in self.columns), default=20) + 8
            self._extents[cell] = (left, top)
        return self._extents[cell]

    def _size_at(self, cell: int) -> QSize:
        left, top = self._label_extent(cell)
        return QSize(
            left + cell * max(1, len(self.columns)) + 4,
            top + cell * max(1, len(self.rows)) + LEGEND + 4,
        )

    def cell_size(self) -> int:
        """The largest cell with which the whole map fits the widget's current size."""
        for cell in range(MAX_CELL, MIN_CELL, -1):
            size = self._size_at(cell)
            if size.width() <= self.width() and size.height() <= self.height():
                return cell
        return MIN_CELL

    def sizeHint(self) -> QSize:
        return self._size_at(MAX_CELL - 4)

    # Painting ------------------------------------------------------------------------------
    def color_for(self, weight: float) -> QColor:
        """Base colour at 0, a strong blue (light on a dark theme) at the map's largest weight."""
        base = self.palette().color(QPalette.ColorRole.Base)
        dark = base.lightness() < 128
        full = QColor(110, 180, 255) if dark else QColor(20, 80, 200)
        share = max(0.0, min(1.0, weight / self.scale_max))
        return QColor(
            round(base.red() + (full.red() - base.red()) * share),
            round(base.green() + (full.green() - base.green()) * share),
            round(base.blue() + (full.blue() - base.blue()) * share),
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        cell = self.cell_size()
        left, top = self._label_extent(cell)
        painter.setFont(self._label_font(cell))
        painter.setPen(self.palette().text().color())
        for row, label in enumerate(self.rows):
            rect = QRectF(0, top + row * cell, left - 4, cell)
            flags = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            painter.drawText(rect, flags, label)
        descent = QFontMetrics(painter.font()).descent()
        for column, label in enumerate(self.columns):
            painter.save()
            painter.translate(left + column * cell + cell / 2 + descent * 1.5, top - 4)
            painter.rotate(-90)
            painter.drawText(0, 0, label)
            painter.restore()
        for row, weights in enumerate(self.weights):
            for column, weight in enumerate(weights[: len(self.columns)]):
                rect = QRectF(left + column * cell, top + row * cell, cell - 1, cell - 1)
                painter.fillRect(rect, self.color_for(weight))
        self._paint_scale(painter, left, top + cell * max(1, len(self.rows)) + 8)
        painter.end()

    def _paint_scale(self, painter: QPainter, x: float, y: float) -> None:
        width = max(80.0, min(220.0, self.width() - x - 8))
        bar = QRectF(x, y, width, 10)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        gradient.setColorAt(0.0, self.color_for(0.0))
        gradient.setColorAt(1.0, self.color_for(self.scale_max))
        painter.fillRect(bar, gradient)
        painter.setPen(self.palette().mid().color())
        painter.drawRect(bar)
        painter.setPen(self.palette().text().color())
        baseline = bar.bottom() + QFontMetrics(painter.font()).ascent() + 2
        painter.drawText(QPointF(bar.left(), baseline), "0")
        high = f"{self.scale_max:.2f}"
        high_x = bar.right() - QFontMetrics(painter.font()).horizontalAdvance(high)
        painter.drawText(QPointF(high_x, baseline), high)
        painter.drawText(QPointF(bar.right() + 8, bar.bottom()), "attention")

    # Interaction ---------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = self._tip_at(event.pos().x(), event.pos().y())
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    def _tip_at(self, x: int, y: int) -> str:
        cell = self.cell_size()
        left, top = self._label_extent(cell)
        row, column = (y - top) // cell, (x - left) // cell
        if x < left or y < top or row >= len(self.weights) or column >= len(self.columns):
            return ""
        weight = self.weights[row][column] if column < len(self.weights[row]) else 0.0
        return f"“{self.rows[row]}” looked at “{self.columns[column]}”: {weight:.2f}"
