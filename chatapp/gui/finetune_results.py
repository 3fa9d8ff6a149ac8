"""The fine-tune dialog's "Before and after" box: perplexities, taught recall, the forgetting
flag, and replies of both models."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.finetune_figures import Figures, Perplexity
from engine.progress import DoneEvent

FIGURE_ROWS = (
    ("On your held-out conversations", "heldout"),
    ("On the original chat corpus", "valid"),
)
COMPARISON_COLUMNS = ("Prompt", "Your saved reply", "Before", "After")


def _perplexity(figures: Figures, name: str) -> float | None:
    """The figure, or None when it was not measured or is not a number (an empty slice, a
    diverged loss: the event carries NaN)."""
    measured: Perplexity | None = getattr(figures, name)
    return measured.perplexity if measured and math.isfinite(measured.perplexity) else None


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


class FinetuneResults(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Before and after", parent)
        figures = QGridLayout()
        self.figure_labels: dict[tuple[int, int], QLabel] = {}
        headers = ("Perplexity (lower is better)", "Before", "After", "Change")
        for column, text in enumerate(headers):
            figures.addWidget(QLabel(f"<b>{text}</b>", self), 0, column)
        for row, (text, _) in enumerate(FIGURE_ROWS, start=1):
            figures.addWidget(QLabel(text, self), row, 0)
            for column in (1, 2, 3):
                label = QLabel("–", self)
                label.setTextFormat(Qt.TextFormat.PlainText)
                self.figure_labels[row - 1, column] = label
                figures.addWidget(label, row, column)
        figures.setColumnStretch(0, 2)
        for column in (1, 2, 3):
            figures.setColumnStretch(column, 1)
        self.comparisons = QTableWidget(0, len(COMPARISON_COLUMNS), self)
        self.comparisons.setHorizontalHeaderLabels(list(COMPARISON_COLUMNS))
        self.comparisons.verticalHeader().hide()
        self.comparisons.setWordWrap(True)
        self.comparisons.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.comparisons.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.recall_label = QLabel("", self)
        self.recall_label.setObjectName("taughtRecall")
        self.recall_label.setWordWrap(True)
        self.flag_label = QLabel("", self)
        self.flag_label.setObjectName("forgettingFlag")
        self.flag_label.setWordWrap(True)
        self.flag_label.setStyleSheet("color: #b00020; font-weight: bold;")
        self.flag_label.hide()
        self.comparisons_label = QLabel("", self)
        layout = QVBoxLayout(self)
        layout.addLayout(figures)
        layout.addWidget(self.recall_label)
        layout.addWidget(self.flag_label)
        layout.addWidget(self.comparisons_label)
        layout.addWidget(self.comparisons)

    def clear(self) -> None:
        for label in self.figure_labels.values():
            label.setText("–")
        self.recall_label.setText("")
        self.flag_label.hide()
        self.comparisons.setRowCount(0)

    def show_result(self, event: DoneEvent) -> None:
        """Fill the box from the command's final `done` event."""
        for row, (_, name) in enumerate(FIGURE_ROWS):
            old, new = _perplexity(event.before, name), _perplexity(event.after, name)
            change = f"{(new - old) / old:+.0%}" if old and new is not None else "–"
            for column, text in ((1, _figure(old)), (2, _figure(new)), (3, change)):
                self.figure_labels[row, column].setText(text)
        recall, rows = event.after.taught_recall, event.recall
        self.recall_label.setText(
            f"Taught recall: it now gives what you taught for "
            f"{sum(row.recalled for row in rows)} of {len(rows)} corrections "
            f"({recall:.0%}), asked again in a new conversation."
            if recall is not None and rows
            else "Taught recall: no corrections to check."
        )
        if event.forgetting_flag:
            self.flag_label.setText(event.warning())
            self.flag_label.show()
        comparisons = event.comparisons
        seen = event.data.comparisons_from == "training"
        self.comparisons_label.setText(
            "Replies to prompts it trained on (no conversation could be held out), precise:"
            if seen
            else "Replies to held-out prompts (precise preset):"
        )
        self.comparisons.setRowCount(len(comparisons))
        for row, item in enumerate(comparisons):
            texts = (" / ".join(item.prompt), item.expected, item.before, item.after)
            for column, text in enumerate(texts):
                self.comparisons.setItem(row, column, QTableWidgetItem(text))
        self.comparisons.resizeRowsToContents()
