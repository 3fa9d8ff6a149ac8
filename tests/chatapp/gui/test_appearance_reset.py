"""The app's font and theme are reset between tests (tests/chatapp/conftest.py): the first test
leaves a 16 pt font and the dark theme behind, the second must not see them. (pytest runs a
file's tests in order; run alone, the second still checks the defaults.)"""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from chatapp.gui.theme import DEFAULT_THEME, current_theme
from tests.chatapp.gui.bare_window import open_bare_window


def test_a_window_can_change_the_font_and_theme(qtbot, store):
    window = open_bare_window(qtbot, store)
    window.menus.appearance.theme_actions["dark"].trigger()
    window.menus.appearance.font_actions[16].trigger()
    qtbot.waitUntil(lambda: QApplication.font().pointSize() == 16)
    assert current_theme() == "dark"
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def test_the_next_test_starts_with_the_default_font_and_theme(_original_app_font):
    assert QApplication.font().pointSize() == _original_app_font.pointSize() != 16
    assert current_theme() == DEFAULT_THEME
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() >= 128
