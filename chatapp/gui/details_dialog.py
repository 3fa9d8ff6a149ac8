"""Details of a bot reply: settings used, seed, model version, timings, n-best, attention."""

from __future__ import annotations

import json
from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from chatapp.gui.attention_view import AttentionView
from chatapp.gui.knob_labels import knob_label
from chatapp.store.records import MessageRecord
from engine.decoding.config import CHOICE_KNOBS, KNOBS
from engine.sources import ReplySource


def memory_lines(decoding: object) -> list[str]:
    """What Details… says about a reply that a saved correction or a reply the user liked gave
    (or offered)."""
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
    liked = ReplySource.parse(memory.get("source")) is ReplySource.LIKED
    what, done = ("A reply you liked", "liked") if liked else ("Your correction", "corrected")
    if memory.get("chosen") and liked:
        first = f"From a reply you liked: you rated this reply up for “{prompt}”"
    elif memory.get("chosen"):
        first = f"From your correction: you taught this reply for “{prompt}”"
    else:
        first = f"{what} for “{prompt}” matched, but another reply scored higher"
    return [f"{first} ({how}; the reply you {done} is from {when}).", ""]


def version_label(record: MessageRecord, versions: Mapping[int, str]) -> str:
    """The model version that made a reply: its name in this database; else the name an
    imported reply kept, with what its archive said it was fine-tuned from; else "unknown"."""
    if record.model_version_id in versions:
        return versions[record.model_version_id]
    if not record.imported_version:
        return "unknown"
    provenance = record.imported_provenance or {}
    lineage = [str(name) for name in provenance.get("lineage") or []]
    made = f"; fine-tuned from {' ← '.join(lineage)}" if lineage else ""
    return f"{record.imported_version} (imported: not in this database{made})"


def provenance_line(decoding: object) -> str:
    """Where the reply came from, in words (a reply with no record of it is the model's)."""
    provenance = decoding.get("provenance") if isinstance(decoding, dict) else None
    if not isinstance(provenance, dict):
        return f"Source: {ReplySource.MODEL.label}"
    source = ReplySource.parse(provenance.get("source"))
    origin = str(provenance.get("origin") or "")
    return f"Source: {source.label}" + (f" ({origin})" if origin else "")


class DetailsDialog(QDialog):
    alternative_picked = Signal(int, str)  # message id, the n-best text to use as the reply

    def __init__(
        self, record: MessageRecord, version_name: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reply details")
        self.record = record
        self.resize(760, 580)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._settings_page(record, version_name), "Settings && timings")
        self.tabs.addTab(self._nbest_page(record), "N-best")
        self.attention_area = QScrollArea(self)
        # The map sizes its cells to the room it has, so the area hands it all of it.
        self.attention_area.setWidgetResizable(True)
        self.attention_area.setWidget(QLabel("Computing the attention…"))
        self.tabs.addTab(self.attention_area, "Attention")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)

    def _settings_page(self, record: MessageRecord, version_name: str) -> QWidget:
        page = QWidget(self)
        info = QPlainTextEdit(page)
        info.setReadOnly(True)
        info.setObjectName("detailsText")
        timings = record.timings if isinstance(record.timings, dict) else {}
        lines = [
            *memory_lines(record.decoding),
            provenance_line(record.decoding),
            f"Model version: {version_name}",
            f"Seed: {record.seed if record.seed is not None else '—'}",
            f"Stopped by the user: {'yes' if record.stopped else 'no'}",
            f"Time to first token: {_number(timings.get('ttft_ms')):.0f} ms",
            f"Total time: {_number(timings.get('total_ms')):.0f} ms",
            f"Tokens: {timings.get('tokens', '—')}",
        ]
        info.setPlainText("\n".join(lines))
        line_height = info.fontMetrics().lineSpacing()
        info.setMaximumHeight(line_height * (len(lines) + 1) + 12)
        self.settings_table = settings_table(record.decoding, page)
        layout = QVBoxLayout(page)
        layout.addWidget(info)
        layout.addWidget(QLabel("Decoding settings used for this reply:", page))
        layout.addWidget(self.settings_table, 1)
        return page

    def _nbest_page(self, record: MessageRecord) -> QWidget:
        page = QWidget(self)
        self.nbest_list = QListWidget(page)
        self.nbest_list.setObjectName("nbestList")
        for entry in record.nbest or []:
            item = QListWidgetItem(nbest_line(entry))
            item.setData(Qt.ItemDataRole.UserRole, entry.get("text", ""))
            self.nbest_list.addItem(item)
        if not record.nbest:
            note = QListWidgetItem("Only beam search and rerank keep an n-best list.")
            note.setFlags(Qt.ItemFlag.NoItemFlags)  # a note, not a reply to pick
            self.nbest_list.addItem(note)
        self.use_button = QPushButton("Use this one as the reply", page)
        self.use_button.setObjectName("useAlternativeButton")
        self.use_button.clicked.connect(self._use_selected)
        self.nbest_list.currentItemChanged.connect(lambda *_: self._update_use_button())
        self._update_use_button()
        page_layout = QVBoxLayout(page)
        page_layout.addWidget(self.nbest_list)
        page_layout.addWidget(self.use_button)
        return page

    def _update_use_button(self) -> None:
        """Enabled only with an n-best entry picked: a sampled reply has none to offer."""
        item = self.nbest_list.currentItem()
        self.use_button.setEnabled(bool(item and item.data(Qt.ItemDataRole.UserRole)))

    def show_attention(
        self, context: list[str], reply: list[str], weights: list[list[float]]
    ) -> None:
        self.attention_area.setWidget(AttentionView(reply, context, weights))

    def show_attention_failed(self, message: str) -> None:
        """The engine could not explain this reply: say so where the map would be."""
        label = QLabel(f"The attention could not be shown: {message}", self)
        label.setObjectName("attentionFailed")
        label.setTextFormat(Qt.TextFormat.PlainText)  # the message may quote the reply
        label.setWordWrap(True)
        self.attention_area.setWidget(label)

    def _use_selected(self) -> None:
        item = self.nbest_list.currentItem()
        text = item.data(Qt.ItemDataRole.UserRole) if item else None
        if text:
            self.alternative_picked.emit(self.record.id, text)
            self.accept()


def settings_table(decoding: object, parent: QWidget) -> QTableWidget:
    """The decoding settings a reply was made with, one per row, in words."""
    rows = [
        (_setting_name(key), _setting_value(key, value))
        for key, value in sorted(decoding.items() if isinstance(decoding, dict) else [])
        if key not in ("memory", "provenance")  # told in words above the table
    ]
    rows.sort(key=lambda row: row[0] != "Strategy")
    table = QTableWidget(len(rows), 2, parent)
    table.setObjectName("decodingTable")
    table.setHorizontalHeaderLabels(["Setting", "Value"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    for number, (name, value) in enumerate(rows):
        table.setItem(number, 0, QTableWidgetItem(name))
        item = QTableWidgetItem(value)
        if name in KNOBS_BY_LABEL:
            item.setToolTip(KNOBS_BY_LABEL[name])
        table.setItem(number, 1, item)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    table.resizeRowsToContents()
    return table


def _setting_name(key: object) -> str:
    if key == "seed":  # the seed this reply used is told above; this is what was asked for
        return "Seed setting"
    return knob_label(str(key))


KNOBS_BY_LABEL = {
    _setting_name(name): spec.help for name, spec in [*KNOBS.items(), *CHOICE_KNOBS.items()]
}


def _setting_value(key: object, value: object) -> str:
    if value is None:
        return "random each reply" if key == "seed" else "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def nbest_line(entry: dict) -> str:
    """One n-best row: the ranking score, and for a reranked candidate its two parts; a
    candidate the model did not write says who did."""
    line = f"{_number(entry.get('score')):8.3f}   {entry.get('text', '')}"
    if isinstance(entry.get("source"), str) and entry["source"] != ReplySource.MODEL.value:
        origin = str(entry.get("origin") or "")
        label = ReplySource.parse(entry["source"]).label
        line += f"\n           {label}" + (f" ({origin})" if origin else "")
    if entry.get("forward") is None:
        return line
    cut = "\n           cut at the length limit, so ranked below the finished replies"
    return (
        f"{line}\n           fits the conversation {_number(entry.get('forward')):.3f} · "
        f"fits your turn in particular {_number(entry.get('mmi')):.3f} "
        f"({entry.get('scorer') or 'MMI'}){cut if entry.get('cut') is True else ''}"
    )


def _number(value: object) -> float:
    """Scores and timings read back from the database or an imported archive may be anything."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return 0.0
