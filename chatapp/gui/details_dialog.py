"""Details of a bot reply: settings used, seed, model version, timings, n-best, attention."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from chatapp.gui.attention_view import AttentionView
from chatapp.store.records import MessageRecord


def memory_lines(decoding: object) -> list[str]:
    """What Details… says about a reply that a saved correction gave (or offered)."""
    memory = decoding.get("memory") if isinstance(decoding, dict) else None
    if not isinstance(memory, dict):
        return []
    prompt, when = str(memory.get("prompt", "")), str(memory.get("when", "") or "—")
    similarity = memory.get("similarity")
    how = (
        "the same words"
        if memory.get("exact")
        else f"a similar turn (similarity {similarity:.2f})"
        if isinstance(similarity, (int, float))
        else "a similar turn"
    )
    if memory.get("chosen"):
        first = f"From your correction: you taught this reply for “{prompt}”"
    else:
        first = f"Your correction for “{prompt}” matched, but the model's own reply scored higher"
    return [f"{first} ({how}; the reply you corrected is from {when}).", ""]


class DetailsDialog(QDialog):
    alternative_picked = Signal(int, str)  # message id, the n-best text to use as the reply

    def __init__(
        self, record: MessageRecord, version_name: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reply details")
        self.record = record
        self.resize(620, 520)
        self.tabs = QTabWidget(self)
        info = QPlainTextEdit(self)
        info.setReadOnly(True)
        info.setObjectName("detailsText")
        timings = record.timings if isinstance(record.timings, dict) else {}
        lines = [
            *memory_lines(record.decoding),
            f"Model version: {version_name}",
            f"Seed: {record.seed if record.seed is not None else '—'}",
            f"Stopped by the user: {'yes' if record.stopped else 'no'}",
            f"Time to first token: {_number(timings.get('ttft_ms')):.0f} ms",
            f"Total time: {_number(timings.get('total_ms')):.0f} ms",
            f"Tokens: {timings.get('tokens', '—')}",
            "",
            "Decoding settings:",
            json.dumps(record.decoding or {}, indent=2, sort_keys=True),
        ]
        info.setPlainText("\n".join(lines))
        self.tabs.addTab(info, "Settings && timings")
        nbest_page = QWidget(self)
        self.nbest_list = QListWidget(nbest_page)
        self.nbest_list.setObjectName("nbestList")
        for entry in record.nbest or []:
            item = QListWidgetItem(nbest_line(entry))
            item.setData(Qt.ItemDataRole.UserRole, entry.get("text", ""))
            self.nbest_list.addItem(item)
        if not record.nbest:
            self.nbest_list.addItem("Only beam search and rerank keep an n-best list.")
        use_button = QPushButton("Use this one as the reply", nbest_page)
        use_button.clicked.connect(self._use_selected)
        page_layout = QVBoxLayout(nbest_page)
        page_layout.addWidget(self.nbest_list)
        page_layout.addWidget(use_button)
        self.tabs.addTab(nbest_page, "N-best")
        self.attention_area = QScrollArea(self)
        self.attention_area.setWidget(QLabel("Computing the attention…"))
        self.tabs.addTab(self.attention_area, "Attention")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)

    def show_attention(
        self, context: list[str], reply: list[str], weights: list[list[float]]
    ) -> None:
        self.attention_area.setWidget(AttentionView(reply, context, weights))

    def _use_selected(self) -> None:
        item = self.nbest_list.currentItem()
        text = item.data(Qt.ItemDataRole.UserRole) if item else None
        if text:
            self.alternative_picked.emit(self.record.id, text)
            self.accept()


def nbest_line(entry: dict) -> str:
    """One n-best row: the ranking score, and for a reranked candidate its two parts."""
    line = f"{_number(entry.get('score')):8.3f}   {entry.get('text', '')}"
    if entry.get("forward") is None:
        return line
    return (
        f"{line}\n           fits the conversation {_number(entry.get('forward')):.3f} · "
        f"fits your turn in particular {_number(entry.get('mmi')):.3f} "
        f"({entry.get('scorer') or 'MMI'})"
    )


def _number(value: object) -> float:
    """Scores and timings read back from the database or an imported archive may be anything."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return 0.0
