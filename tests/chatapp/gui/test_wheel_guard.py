"""Scrolling over number boxes and drop-downs (issue 24, item 1): the wheel changes a box only
once the user has clicked into it; until then it scrolls the panel around it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from chatapp.gui.decoding_panel import CUSTOM
from tests.chatapp.gui.bare_window import open_bare_window


def wheel_down(widget: QWidget) -> bool:
    """One notch of the mouse wheel with the pointer over `widget`'s middle; True if the
    widget took it (a real, spontaneous event that is not taken goes on to the parent, which
    is how the panel scrolls; a synthesized one stops here)."""
    local = QPointF(widget.rect().center())
    event = QWheelEvent(
        local,
        QPointF(widget.mapToGlobal(local.toPoint())),
        QPoint(0, 0),
        QPoint(0, -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_the_wheel_over_an_unfocused_knob_changes_nothing_and_is_left_for_the_panel(qtbot, store):
    window = open_bare_window(qtbot, store, size=(1100, 500))
    panel = window.decoding_panel
    preset = panel.preset_combo.currentText()
    with qtbot.waitActive(window):
        window.activateWindow()
    window.composer.edit.setFocus()
    top_k = panel.knob_widgets["top_k"]
    before = top_k.value()
    for widget in (top_k, panel.strategy_combo, panel.preset_combo):
        assert not wheel_down(widget), "the wheel is left for the panel's scroll area"
    assert top_k.value() == before
    assert panel.preset_combo.currentText() == preset != CUSTOM

    top_k.setFocus(Qt.FocusReason.TabFocusReason)  # tabbed into: now the wheel is meant for it
    qtbot.waitUntil(top_k.hasFocus, timeout=2000)
    assert wheel_down(top_k)
    assert top_k.value() == before - 1
    assert panel.preset_combo.currentText() == CUSTOM


def test_the_finetune_dialogs_number_boxes_take_the_wheel_only_when_focused(qtbot, store):
    window = open_bare_window(qtbot, store)
    window.menus.finetune_action.trigger()
    dialog = window.findChild(QDialog, "finetuneDialog")
    qtbot.waitExposed(dialog)
    assert dialog.form.knob_spins
    for spin in dialog.form.knob_spins.values():
        before = spin.value()
        wheel_down(spin)
        assert spin.value() == before, spin.toolTip()
        assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus
