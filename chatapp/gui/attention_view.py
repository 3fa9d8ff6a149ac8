"""An attention heat-map: reply tokens (rows) over context tokens (columns)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

CELL = 16


def _label(piece: str) -> str:
    return piece.replace("\u2581", "·") if piece else "∅"


class AttentionView(QWidget):
    def __init__(
        self,
        reply_pieces: list[str],
        context_pieces: list[str],
        weights: list[list[float]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.rows = [_label(piece) for piece in reply_pieces][: len(weights)]
        self.columns = [_label(piece) for piece in context_pieces]
        self.weights = weights[: len(self.rows)]
        metrics = QFontMetrics(self.font())
        self.left = max((metrics.horizontalAdvance(r) for r in self.rows), default=20) + 8
        self.top = max((metrics.horizontalAdvance(c) for c in self.columns), default=20) + 8
        self.setMinimumSize(self.sizeHint())

    def sizeHint(self) -> QSize:
        return QSize(
            self.left + CELL * max(1, len(self.columns)) + 4,
            self.top + CELL * max(1, len(self.rows)) + 4,
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        text = self.palette().text().color()
        painter.setPen(text)
        for row, label in enumerate(self.rows):
            rect = QRectF(0, self.top + row * CELL, self.left - 4, CELL)
            painter.drawText(
                rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label
            )
        for column, label in enumerate(self.columns):
            painter.save()
            painter.translate(self.left + column * CELL + CELL * 0.75, self.top - 4)
            painter.rotate(-90)
            painter.drawText(0, 0, label)
            painter.restore()
        for row, weights in enumerate(self.weights):
            for column, weight in enumerate(weights[: len(self.columns)]):
                shade = int(255 * (1 - max(0.0, min(1.0, weight))))
                painter.fillRect(
                    QRectF(self.left + column * CELL, self.top + row * CELL, CELL - 1, CELL - 1),
                    QColor(shade, shade, 255),
                )
        painter.end()
