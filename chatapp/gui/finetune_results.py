"""The fine-tune dialog's "Before and after" box: perplexities, taught recall, the forgetting
flag, and replies of both models."""

from __future__ import annotations

from typing import Any

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

from chatapp.finetune.events import DoneEvent

FIGURE_ROWS = (
    ("On your held-out conversations", "heldout_perplexity"),
    ("On the original chat corpus", "valid_perplexity"),
)
COMPARISON_COLUMNS = ("Prompt", "Your saved reply", "Before", "After")


def _numbers(*values: Any) -> bool:
    return all(isinstance(value, (int, float)) for value in values)


def _figure(value: Any) -> str:
    return f"{value:,.2f}" if _numbers(value) else "–"


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
        before, after = event.metrics.get("before") or {}, event.metrics.get("after") or {}
        for row, (_, key) in enumerate(FIGURE_ROWS):
            old, new = before.get(key), after.get(key)
            change = f"{(new - old) / old:+.0%}" if _numbers(old, new) and old else "–"
            for column, text in ((1, _figure(old)), (2, _figure(new)), (3, change)):
                self.figure_labels[row, column].setText(text)
        recall, rows = event.taught_recall, event.recall
        self.recall_label.setText(
            f"Taught recall: it now gives what you taught for "
            f"{sum(bool(row.get('recalled')) for row in rows)} of {len(rows)} corrections "
            f"({recall:.0%}), asked again in a new conversation."
            if _numbers(recall) and rows
            else "Taught recall: no corrections to check."
        )
        if event.forgetting_flag:
            change = event.valid_perplexity_change
            rise = f"rose {change:+.1%}" if _numbers(change) else "could not be measured"
            self.flag_label.setText(
                f"Its perplexity on the original chat corpus {rise}: it may have forgotten "
                "general chat. It is not made active unless you say so."
            )
            self.flag_label.show()
        comparisons = event.comparisons
        seen = event.data.get("comparisons_from") == "training"
        self.comparisons_label.setText(
            "Replies to prompts it trained on (no conversation could be held out), precise:"
            if seen
            else "Replies to held-out prompts (precise preset):"
        )
        self.comparisons.setRowCount(len(comparisons))
        for row, item in enumerate(comparisons):
            prompt = " / ".join(item.get("prompt") or [])
            texts = (prompt, *(item.get(key, "") for key in ("expected", "before", "after")))
            for column, text in enumerate(texts):
                self.comparisons.setItem(row, column, QTableWidgetItem(str(text)))
        self.comparisons.resizeRowsToContents()
