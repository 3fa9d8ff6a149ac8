"""The Fine-tune dialog's form: which kinds of saved pairs to learn from (with how many of
each there are) and the knobs it shows, over the ranges `FinetuneRequest` declares."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chatapp.finetune.data import KIND_LABELS, WHAT_TEACHES, not_enough_message
from chatapp.finetune.request import DEFAULT_INCLUDE, KNOBS, FinetuneRequest
from chatapp.gui.knob_spin import knob_spin, knob_value
from engine.pairs import PAIR_KINDS

# The knobs the dialog shows (the rest keep the request's defaults), with their labels.
SHOWN_KNOBS = {
    "replay": "Replay share:",
    "epochs": "Epochs (at most):",
    "max_minutes": "Time limit:",
    "learning_rate": "Learning rate:",
}
SUFFIXES = {"max_minutes": " min"}


class FinetuneForm(QObject):
    """The two boxes ("Learn from", "Settings"); the dialog lays them out."""

    changed = Signal()  # what to learn from, or how many pairs there are, changed

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.counts: dict[str, int] = dict.fromkeys(PAIR_KINDS, 0)
        self.counted = False  # the first counts are in
        self.data_box = self._build_data_box(parent)
        self.settings_box = self._build_settings_box(parent)

    def _build_data_box(self, parent: QWidget) -> QGroupBox:
        """A check box per kind of saved pair, each saying what it teaches."""
        data_box = QGroupBox("Learn from", parent)
        data_layout = QVBoxLayout(data_box)
        self.kind_boxes: dict[str, QCheckBox] = {}
        for kind in PAIR_KINDS:
            box = QCheckBox(data_box)
            box.setChecked(kind in DEFAULT_INCLUDE)
            box.toggled.connect(self.changed)
            self.kind_boxes[kind] = box
            data_layout.addWidget(box)
            teaches = QLabel(WHAT_TEACHES[kind], data_box)
            teaches.setWordWrap(True)
            teaches.setIndent(24)
            data_layout.addWidget(teaches)
        self.data_hint = QLabel("", data_box)
        self.data_hint.setWordWrap(True)
        self.data_hint.setTextFormat(Qt.TextFormat.PlainText)
        data_layout.addWidget(self.data_hint)
        return data_box

    def _build_settings_box(self, parent: QWidget) -> QGroupBox:
        """A spin box per shown knob, over the range the request declares for it."""
        defaults = FinetuneRequest()
        settings_box = QGroupBox("Settings", parent)
        form = QFormLayout(settings_box)
        self.knob_spins: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for name, label in SHOWN_KNOBS.items():
            spin = knob_spin(KNOBS[name], getattr(defaults, name), settings_box)
            spin.setObjectName(f"knob_{name}")
            spin.setSuffix(SUFFIXES.get(name, ""))
            form.addRow(label, spin)
            self.knob_spins[name] = spin
        return settings_box

    @Slot(object)
    def show_counts(self, counts: dict[str, int] | None) -> None:
        if counts is None:
            return  # not counted yet: they come in a moment (`refusal` says so)
        self.counts, self.counted = dict(counts), True
        for kind, box in self.kind_boxes.items():
            box.setText(f"{KIND_LABELS[kind].capitalize()} ({self.counts.get(kind, 0)})")
        self.changed.emit()

    def include(self) -> list[str]:
        return [kind for kind, box in self.kind_boxes.items() if box.isChecked()]

    def refusal(self) -> str | None:
        """Why a run cannot start with what is chosen (shown under the boxes); None if it can."""
        if not self.counted:
            return "Counting your saved pairs…"
        if not self.include():
            return "Choose at least one kind of example to learn from."
        return not_enough_message(self.counts, self.include())

    def show_refusal(self, refusal: str | None) -> None:
        total = sum(self.counts.get(kind, 0) for kind in self.include())
        self.data_hint.setText(refusal or f"{total} saved pairs selected.")

    def knob_values(self) -> dict[str, float | None]:
        """The shown knobs' values; an optional knob at its lowest is None (no limit)."""
        return {name: knob_value(KNOBS[name], spin) for name, spin in self.knob_spins.items()}

    def set_editable(self, editable: bool) -> None:
        """What to learn from and the knobs are fixed while a run goes."""
        for widget in (self.data_box, *self.knob_spins.values()):
            widget.setEnabled(editable)
