"""The decoding settings panel: presets, strategy and every `DecodeConfig` knob.

Built from `engine.decoding.config.KNOBS` (range and help of each knob), so a new knob shows up
here without touching this file. Changes apply to the next reply and persist in `QSettings`.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.decoding.config import (
    DEFAULT_PRESET,
    INTEGER_KNOBS,
    KNOBS,
    PRESETS,
    STRATEGIES,
    DecodeConfig,
)
from engine.errors import ConfigError

SETTINGS_KEY = "decoding/config"
CUSTOM = "(custom)"


class DecodingPanel(QWidget):
    config_changed = Signal(object)  # DecodeConfig
    preset_saved = Signal(str, object)  # name, DecodeConfig

    def __init__(
        self, user_presets: dict[str, DecodeConfig] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._user_presets = dict(user_presets or {})
        self._updating = False
        self.preset_combo = QComboBox(self)
        self.preset_combo.setObjectName("presetCombo")
        self.strategy_combo = QComboBox(self)
        self.strategy_combo.addItems(list(STRATEGIES))
        self.strategy_combo.setToolTip(
            "greedy: the likeliest word each step; beam: the likeliest reply among several; "
            "sample: draw words at random; rerank: sample several replies and keep the one "
            "that fits your turn best"
        )
        self.knob_widgets: dict[str, QSpinBox | QDoubleSpinBox] = {}
        form = QFormLayout()
        form.addRow("Preset", self.preset_combo)
        form.addRow("Strategy", self.strategy_combo)
        for name, spec in KNOBS.items():
            if name in INTEGER_KNOBS:
                widget: QSpinBox | QDoubleSpinBox = QSpinBox(self)
                widget.setRange(int(spec.minimum), int(spec.maximum))
            else:
                widget = QDoubleSpinBox(self)
                widget.setDecimals(2)
                widget.setSingleStep(0.05)
                widget.setRange(spec.minimum, spec.maximum)
            widget.setObjectName(f"knob_{name}")
            widget.setToolTip(f"{spec.help} Range {spec.minimum:g}–{spec.maximum:g}.")
            label = QLabel(name.replace("_", " ").capitalize(), self)
            label.setToolTip(widget.toolTip())
            form.addRow(label, widget)
            self.knob_widgets[name] = widget
            widget.valueChanged.connect(self._on_edited)
        self.seed_edit = QLineEdit(self)
        self.seed_edit.setPlaceholderText("random")
        self.seed_edit.setToolTip("Sampling seed: a number repeats the same reply; empty = random.")
        form.addRow("Seed", self.seed_edit)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00020;")
        reset = QPushButton("Reset to defaults", self)
        reset.setObjectName("resetButton")
        save = QPushButton("Save as preset…", self)
        buttons = QHBoxLayout()
        buttons.addWidget(reset)
        buttons.addWidget(save)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self._fill_presets()
        self.preset_combo.currentTextChanged.connect(self._on_preset)
        self.strategy_combo.currentTextChanged.connect(self._on_edited)
        self.seed_edit.editingFinished.connect(self._on_edited)
        reset.clicked.connect(self.reset_to_defaults)
        save.clicked.connect(self._save_preset)
        self._config = self._restore()
        self._show(self._config)

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
        saved = QSettings().value(SETTINGS_KEY, "")
        if saved:
            try:
                return DecodeConfig.from_json(str(saved))
            except ConfigError:
                pass  # settings from an older version: fall back to the default preset
        return PRESETS[DEFAULT_PRESET]

    def _show(self, config: DecodeConfig) -> None:
        self._updating = True
        self.strategy_combo.setCurrentText(config.strategy)
        for name, widget in self.knob_widgets.items():
            widget.setValue(getattr(config, name))
        self.seed_edit.setText("" if config.seed is None else str(config.seed))
        matching = [name for name, preset in self.presets().items() if preset == config]
        self.preset_combo.setCurrentText(matching[0] if matching else CUSTOM)
        self._updating = False

    def _read(self) -> DecodeConfig:
        values: dict[str, object] = {"strategy": self.strategy_combo.currentText()}
        for name, widget in self.knob_widgets.items():
            values[name] = int(widget.value()) if name in INTEGER_KNOBS else float(widget.value())
        seed_text = self.seed_edit.text().strip()
        if seed_text and not seed_text.isdigit():
            raise ConfigError("seed must be a whole number, or empty for a random one")
        values["seed"] = int(seed_text) if seed_text else None
        if values["strategy"] == "beam":
            values["n_best"] = min(int(values["n_best"]), int(values["beam_size"]))
        values["min_length"] = min(int(values["min_length"]), int(values["max_length"]))
        return DecodeConfig(**values)  # type: ignore[arg-type]

    def set_config(self, config: DecodeConfig) -> None:
        self._config = config
        self._show(config)
        QSettings().setValue(SETTINGS_KEY, config.to_json())
        self.config_changed.emit(config)

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
            self.set_config(preset)

    def reset_to_defaults(self) -> None:
        self.set_config(PRESETS[DEFAULT_PRESET])

    def _save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Name of the preset:")
        name = name.strip()
        if ok and name and name not in PRESETS:
            self.add_user_preset(name, self._config)
            self.preset_saved.emit(name, self._config)

    def add_user_preset(self, name: str, config: DecodeConfig) -> None:
        self._user_presets[name] = config
        self._fill_presets()
        self._show(self._config)
