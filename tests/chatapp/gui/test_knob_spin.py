"""Every knob's spin box comes from one builder (gui/knob_spin.py): the decoding panel's span the
ranges `DecodeConfig` checks, whole-number knobs take whole numbers, and a value typed beyond a
range never reaches the config."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSpinBox, QWidget

from chatapp.gui.decoding_panel import DecodingPanel
from chatapp.gui.knob_spin import knob_spin, knob_value
from engine.decoding.config import KNOBS, DecodeConfig
from engine.finetune_config import KNOBS as FINETUNE_KNOBS
from tests.chatapp.gui.test_decoding_panel import type_into


@pytest.fixture
def panel(qtbot, tmp_path: Path) -> DecodingPanel:
    panel = DecodingPanel(settings=QSettings(str(tmp_path / "p.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_config(DecodeConfig(strategy="beam", beam_size=5, n_best=5))  # the boxes enabled
    return panel


def test_each_decoding_box_spans_its_knobs_range_and_kind(panel):
    for name, knob in KNOBS.items():
        box = panel.knob_widgets[name]
        assert isinstance(box, QSpinBox) == knob.integer, name
        assert (box.minimum(), box.maximum()) == pytest.approx((knob.low, knob.high)), name
        assert f"Range {knob.shown(knob.low)}–{knob.shown(knob.high)}." in box.toolTip(), name
        assert box.toolTip() == panel.knob_labels[name].toolTip()  # the label says it too


@pytest.mark.parametrize(
    ("strategy", "name", "inside", "beyond"),
    [
        ("sample", "top_p", "0.5", "7"),
        ("beam", "beam_size", "8", "99"),
        ("sample", "top_k", "7", "-3"),
    ],
)
def test_a_value_typed_beyond_the_range_never_reaches_the_config(
    qtbot, panel, strategy, name, inside, beyond
):
    panel.strategy_combo.setCurrentText(strategy)
    box = panel.knob_widgets[name]
    assert box.isEnabled()
    type_into(qtbot, box, inside)
    assert getattr(panel.config, name) == float(inside)  # the box is live
    type_into(qtbot, box, beyond)
    assert KNOBS[name].contains(getattr(panel.config, name)), getattr(panel.config, name)
    assert DecodeConfig.from_json(panel.config.to_json()) == panel.config


def test_an_optional_knob_at_its_lowest_is_no_limit(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    minutes = FINETUNE_KNOBS["max_minutes"]
    box = knob_spin(minutes, None, parent)
    assert box.text() == "no limit" and knob_value(minutes, box) is None
    box.setValue(30)
    assert knob_value(minutes, box) == 30
