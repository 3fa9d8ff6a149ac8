"""One spin box builder for every knob (`engine.knobs.Knob`): the decoding panel's and the
Fine-tune dialog's boxes span exactly the range the engine checks, step and show as the knob
says, and ignore the wheel until focused."""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox, QWidget

from chatapp.gui.wheel_guard import guard_wheel
from engine.knobs import Knob


def knob_spin(knob: Knob, value: float | None, parent: QWidget) -> QSpinBox | QDoubleSpinBox:
    """A spin box over the knob's whole declared range. An optional knob's lowest value stands
    for None ("no limit"); an open low end starts one display step above it."""
    if knob.integer:
        spin: QSpinBox | QDoubleSpinBox = QSpinBox(parent)
        spin.setRange(int(knob.low), int(knob.high))
        spin.setSingleStep(int(knob.step or 1))
    else:
        spin = QDoubleSpinBox(parent)
        spin.setDecimals(knob.decimals)
        shifted = knob.low_open and not knob.optional
        spin.setRange(knob.low + (10.0**-knob.decimals if shifted else 0.0), knob.high)
        spin.setSingleStep(knob.step or 0.05)
    if knob.optional:
        spin.setSpecialValueText("no limit")
    spin.setValue(spin.minimum() if value is None else value)
    help_text = knob.help[:1].upper() + knob.help[1:].rstrip(".")
    spin.setToolTip(f"{help_text}. Range {knob.shown(knob.low)}–{knob.shown(knob.high)}.")
    guard_wheel(spin)  # scrolling a panel or a dialog must not change a knob
    return spin


def knob_value(knob: Knob, spin: QSpinBox | QDoubleSpinBox) -> float | None:
    """The box's value; an optional knob at its lowest is None (no limit)."""
    return None if knob.optional and spin.value() == spin.minimum() else spin.value()
