"""The decoding settings panel: presets, strategy and every `DecodeConfig` knob.

Built from `engine.decoding.config.KNOBS` (range and help of each knob) and `CHOICE_KNOBS`
(the words a knob takes), so a new knob shows up here without touching this file. Changes apply
to the next reply and are saved in the settings the window hands in (those of the data dir);
the user's own presets can be saved, renamed and deleted (the window keeps them in the database).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chatapp.gui import text_dialog
from chatapp.gui.knob_labels import knob_label
from chatapp.gui.knob_spin import knob_spin
from chatapp.gui.wheel_guard import guard_wheel
from chatapp.store.records import PresetRecord
from engine.decoding.config import (
    CHOICE_KNOBS,
    DEFAULT_PRESET,
    KNOBS,
    PRESETS,
    STRATEGIES,
    DecodeConfig,
    former_preset,
)
from engine.errors import ConfigError

SETTINGS_KEY = "decoding/config"
# The preset the saved values are, by name ("" for custom values): a built-in preset restores
# as it is now, so improved presets reach people who had chosen them.
PRESET_KEY = "decoding/preset"
CUSTOM = "(custom)"
# What sampling reads; rerank and the pool sample their candidates with it too.
SAMPLING_KNOBS = frozenset({"temperature", "top_k", "top_p", "seed"})
# How rerank and the pool gather their candidates and score them (MMI).
_RERANK_KNOBS = SAMPLING_KNOBS | {"candidate_search", "candidates", "mmi_weight", "fluency_floor"}
# The knobs only some strategies read (engine/decoding/generate.py); the rest apply to all.
STRATEGY_KNOBS = {
    "greedy": frozenset(),
    "beam": frozenset({"beam_size", "length_penalty", "n_best"}),
    "sample": SAMPLING_KNOBS,
    "rerank": _RERANK_KNOBS | {"anti_lm_weight"},
    "pool": _RERANK_KNOBS
    | {"retrieved", "similar", "generated_offset", "match_weight", "own_context_weight"}
    | {"fit_weight"},
}
_SPECIFIC = frozenset().union(*STRATEGY_KNOBS.values())
# Rerank and the pool with beam search's candidates (candidate_search "beam") draw nothing at
# random (the sampling knobs do not apply), and their beam reads the length penalty.
BEAM_CANDIDATE_KNOBS = frozenset({"length_penalty"})
# The knobs only a model that reads exemplars uses (engine/refine.py: config `exemplar`), and
# what a greyed-out one says on hover.
EXEMPLAR_KNOBS = frozenset({"refine"})
NO_EXEMPLAR_INPUT = "Not used: the loaded model does not read exemplars."


def presets_from_store(records: Iterable[PresetRecord]) -> dict[str, DecodeConfig]:
    """The user's saved presets by name, the ones this version can still read."""
    presets = {}
    for preset in records:
        try:
            presets[preset.name] = DecodeConfig.from_dict(preset.config)
        except ValueError:
            continue  # a preset of an older version with knobs that no longer exist
    return presets


def knob_applies(
    name: str, strategy: str, candidate_search: str = "sample", *, reads_exemplars: bool = True
) -> bool:
    if name in EXEMPLAR_KNOBS and not reads_exemplars:
        return False
    if candidate_search == "beam" and strategy in ("rerank", "pool"):
        if name in SAMPLING_KNOBS:
            return False
        if name in BEAM_CANDIDATE_KNOBS:
            return True
    return name not in _SPECIFIC or name in STRATEGY_KNOBS.get(strategy, frozenset())


def choice_help(name: str) -> str:
    """A choice knob's tooltip: what it does and the words it takes."""
    choice = CHOICE_KNOBS[name]
    return f"{choice.help} One of {', '.join(choice.values)}."


class DecodingPanel(QWidget):
    preset_saved = Signal(str, object)  # name, DecodeConfig
    preset_renamed = Signal(str, str, object)  # old name, new name, DecodeConfig
    preset_deleted = Signal(str)  # name

    def __init__(
        self,
        user_presets: dict[str, DecodeConfig] | None = None,
        parent: QWidget | None = None,
        *,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self._user_presets = dict(user_presets or {})
        self._settings = settings if settings is not None else QSettings()
        self._updating = False
        # Until a model says otherwise (`set_reads_exemplars`), its knobs are offered.
        self._reads_exemplars = True
        self.knob_widgets: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self.choice_widgets: dict[str, QComboBox] = {}
        self.knob_labels: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_form())
        self.note = QLabel(self)  # what the panel changed on its own, and why
        self.note.setObjectName("decodingNote")
        self.note.setWordWrap(True)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #d03040;")  # legible on light and dark backgrounds
        layout.addWidget(self.note)
        layout.addWidget(self.message)
        layout.addLayout(self._build_buttons())
        layout.addStretch(1)
        self._fill_presets()
        self.preset_combo.currentTextChanged.connect(self._on_preset)
        self.strategy_combo.currentTextChanged.connect(self._on_edited)
        self.seed_edit.editingFinished.connect(self._on_edited)
        self._config = self._restore()
        self._show(self._config)

    def _build_form(self) -> QFormLayout:
        self.preset_combo = QComboBox(self)
        self.preset_combo.setObjectName("presetCombo")
        self.strategy_combo = QComboBox(self)
        self.strategy_combo.setObjectName("strategyCombo")
        self.strategy_combo.addItems(list(STRATEGIES))
        guard_wheel(self.preset_combo)
        guard_wheel(self.strategy_combo)
        self.strategy_combo.setToolTip(
            "greedy: the likeliest word each step; beam: the likeliest reply among several; "
            "sample: draw words at random; rerank: several replies (sampled, or beam search's "
            "n-best) and keep the one that fits your turn best"
        )
        form = QFormLayout()
        # In a narrow dock or at a large font a field goes under its label instead of being
        # cut off (spin arrows gone, a horizontal scroll bar).
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Preset", self.preset_combo)
        form.addRow("Strategy", self.strategy_combo)
        for name, choice in CHOICE_KNOBS.items():
            combo = QComboBox(self)
            combo.addItems(list(choice.values))
            combo.setObjectName(f"knob_{name}")
            combo.setToolTip(choice_help(name))
            guard_wheel(combo)
            label = QLabel(knob_label(name), self)
            label.setToolTip(combo.toolTip())
            form.addRow(label, combo)
            self.choice_widgets[name], self.knob_labels[name] = combo, label
            combo.currentTextChanged.connect(self._on_edited)
        for name, knob in KNOBS.items():
            widget = knob_spin(knob, None, self)  # `_show` puts the config's values in
            # A value typed digit by digit applies when it is finished: typing "16" into Beam
            # size used to apply "1" first, which capped N best to 1.
            widget.setKeyboardTracking(False)
            widget.setObjectName(f"knob_{name}")
            label = QLabel(knob_label(name), self)
            label.setToolTip(widget.toolTip())
            form.addRow(label, widget)
            self.knob_widgets[name], self.knob_labels[name] = widget, label
            widget.valueChanged.connect(self._on_edited)
        self.seed_edit = QLineEdit(self)
        self.seed_edit.setObjectName("seedEdit")
        self.seed_edit.setPlaceholderText("random")
        self.seed_edit.setToolTip("Sampling seed: a number repeats the same reply; empty = random.")
        self.knob_labels["seed"] = QLabel("Seed", self)
        form.addRow(self.knob_labels["seed"], self.seed_edit)
        return form

    def _build_buttons(self) -> QVBoxLayout:
        reset = QPushButton("Reset to defaults", self)
        reset.setObjectName("resetButton")
        self.save_button = QPushButton("Save as preset…", self)
        self.save_button.setObjectName("savePresetButton")
        self.rename_button = QPushButton("Rename…", self)
        self.rename_button.setObjectName("renamePresetButton")
        self.rename_button.setToolTip("Rename the selected preset of yours")
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setObjectName("deletePresetButton")
        self.delete_button.setToolTip("Delete the selected preset of yours")
        reset.clicked.connect(self.reset_to_defaults)
        self.save_button.clicked.connect(self._save_preset)
        self.rename_button.clicked.connect(self._rename_preset)
        self.delete_button.clicked.connect(self._delete_preset)
        presets = QHBoxLayout()
        presets.addWidget(self.rename_button)
        presets.addWidget(self.delete_button)
        buttons = QVBoxLayout()  # one above the other: each keeps its whole label
        buttons.addWidget(self.save_button)
        buttons.addLayout(presets)
        buttons.addWidget(reset)
        return buttons

    # State ---------------------------------------------------------------------------------
    @property
    def config(self) -> DecodeConfig:
        return self._config

    def presets(self) -> dict[str, DecodeConfig]:
        return {**PRESETS, **self._user_presets}

    def _fill_presets(self) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        self.preset_combo.addItems([*PRESETS, *self._user_presets, CUSTOM])
        self.preset_combo.blockSignals(False)

    def _restore(self) -> DecodeConfig:
        name = str(self._settings.value(PRESET_KEY, ""))
        if name in PRESETS:
            return PRESETS[name]
        saved = self._settings.value(SETTINGS_KEY, "")
        if not saved:
            return PRESETS[DEFAULT_PRESET]
        try:
            config = DecodeConfig.from_json(str(saved))
        except ConfigError:
            return PRESETS[DEFAULT_PRESET]  # settings this version cannot read
        if not self._settings.contains(PRESET_KEY):
            # Saved by a version that kept values only: a preset's old values are that preset.
            return PRESETS.get(former_preset(config) or "", config)
        return config

    def _show(self, config: DecodeConfig) -> None:
        self._updating = True
        self.strategy_combo.setCurrentText(config.strategy)
        for name, widget in self.knob_widgets.items():
            widget.setValue(getattr(config, name))
        for name, combo in self.choice_widgets.items():
            combo.setCurrentText(getattr(config, name))
        self.seed_edit.setText("" if config.seed is None else str(config.seed))
        matching = [name for name, preset in self.presets().items() if preset == config]
        self.preset_combo.setCurrentText(matching[0] if matching else CUSTOM)
        self._show_applicable(config.strategy, config.candidate_search)
        own = self.preset_combo.currentText() in self._user_presets
        self.rename_button.setEnabled(own)
        self.delete_button.setEnabled(own)
        self._updating = False

    def set_reads_exemplars(self, reads: bool) -> None:
        """The loaded model reads exemplars (or not): its knobs are offered (or greyed out)."""
        self._reads_exemplars = reads
        self._show_applicable(self._config.strategy, self._config.candidate_search)

    def _show_applicable(self, strategy: str, candidate_search: str) -> None:
        """Knobs the chosen strategy or the loaded model does not read are greyed out (they
        keep their values)."""
        fields: dict[str, QWidget] = {
            **self.knob_widgets,
            **self.choice_widgets,
            "seed": self.seed_edit,
        }
        for name, widget in fields.items():
            applies = knob_applies(
                name, strategy, candidate_search, reads_exemplars=self._reads_exemplars
            )
            widget.setEnabled(applies)
            self.knob_labels[name].setEnabled(applies)
            if name in EXEMPLAR_KNOBS:  # greyed out by the model, not the strategy: say why
                why = "" if self._reads_exemplars else f" {NO_EXEMPLAR_INPUT}"
                widget.setToolTip(choice_help(name) + why)
                self.knob_labels[name].setToolTip(widget.toolTip())

    def _read(self) -> DecodeConfig:
        values: dict[str, object] = {"strategy": self.strategy_combo.currentText()}
        for name, widget in self.knob_widgets.items():
            values[name] = widget.value()  # an int from an integer knob's QSpinBox
        for name, combo in self.choice_widgets.items():
            values[name] = combo.currentText()
        seed_text = self.seed_edit.text().strip()
        if seed_text and not seed_text.isdigit():
            raise ConfigError("seed must be a whole number, or empty for a random one")
        values["seed"] = int(seed_text) if seed_text else None
        notes = []
        if values["strategy"] == "beam" and int(values["n_best"]) > int(values["beam_size"]):
            values["n_best"] = values["beam_size"]
            notes.append(
                f"N best lowered to {values['beam_size']}: beam search returns at most "
                "beam size replies."
            )
        if int(values["min_length"]) > int(values["max_length"]):
            values["min_length"] = values["max_length"]
            notes.append(f"Min length lowered to {values['max_length']}, the max length.")
        self.note.setText(" ".join(notes))
        return DecodeConfig(**values)  # type: ignore[arg-type]

    def set_config(self, config: DecodeConfig) -> None:
        self._config = config
        self._show(config)
        self._settings.setValue(SETTINGS_KEY, config.to_json())
        preset = self.preset_combo.currentText()
        self._settings.setValue(PRESET_KEY, "" if preset == CUSTOM else preset)

    def set_knob(self, name: str, value: float | int | str | None) -> None:
        """Change one setting as the user would (used by menus and tests)."""
        self.set_config(dataclasses.replace(self._config, **{name: value}))

    # Reactions -----------------------------------------------------------------------------
    def _on_edited(self, *_: object) -> None:
        if self._updating:
            return
        try:
            config = self._read()
        except ConfigError as error:
            self.message.setText(str(error))
            return
        self.message.clear()
        self.set_config(config)

    def _on_preset(self, name: str) -> None:
        if self._updating or name == CUSTOM:
            return
        preset = self.presets().get(name)
        if preset is not None:
            self.note.clear()
            self.set_config(preset)

    def reset_to_defaults(self) -> None:
        self.note.clear()
        self.set_config(PRESETS[DEFAULT_PRESET])

    def _ask_name(self, title: str, current: str = "") -> str | None:
        """A new preset name from the user; None if cancelled or taken by a built-in preset."""
        name = (text_dialog.ask_text(self, title, "Name of the preset:", current) or "").strip()
        if not name:
            return None
        if name in PRESETS or name == CUSTOM:
            self.message.setText(f"“{name}” is a built-in preset: choose another name.")
            return None
        return name

    def _save_preset(self) -> None:
        name = self._ask_name("Save preset")
        if name is not None:
            self.add_user_preset(name, self._config)
            self.preset_saved.emit(name, self._config)

    def _rename_preset(self) -> None:
        old = self.preset_combo.currentText()
        config = self._user_presets.get(old)
        new = self._ask_name("Rename preset", old) if config is not None else None
        if config is None or new is None or new == old:
            return
        self._user_presets = {new if n == old else n: c for n, c in self._user_presets.items()}
        self._fill_presets()
        self._show(self._config)
        self.preset_renamed.emit(old, new, config)

    def _delete_preset(self) -> None:
        name = self.preset_combo.currentText()
        if self._user_presets.pop(name, None) is None:
            return
        self._fill_presets()
        self._show(self._config)  # the settings stay; the panel now calls them "(custom)"
        self.preset_deleted.emit(name)

    def add_user_preset(self, name: str, config: DecodeConfig) -> None:
        self._user_presets[name] = config
        self._fill_presets()
        self._show(self._config)


class PanelScrollArea(QScrollArea):
    """Holds the panel in the dock: as wide as the panel needs at the current font (the dock
    follows), scrolling only up and down."""

    def __init__(self, panel: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(panel)
        panel.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # a new font: let the dock take the panel's new width
        return super().eventFilter(watched, event)

    def _widened(self, hint: QSize, panel_hint: QSize | None) -> QSize:
        """`hint` as wide as the panel's `panel_hint` plus the vertical scroll bar."""
        if panel_hint is None:
            return hint
        extra = self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
        return QSize(panel_hint.width() + extra, hint.height())

    def minimumSizeHint(self) -> QSize:
        panel = self.widget()
        return self._widened(super().minimumSizeHint(), panel.minimumSizeHint() if panel else None)

    def sizeHint(self) -> QSize:
        panel = self.widget()
        return self._widened(super().sizeHint(), panel.sizeHint() if panel else None)
