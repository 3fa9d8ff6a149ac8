"""Font size, theme and window size as a person meets them: the menus, the dock, a small window,
and the dark theme's disabled and hard-to-see controls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QPushButton,
    QWidget,
)

from chatapp.gui import saved_settings
from chatapp.gui.main_window import CHAT_MIN_WIDTH, MainWindow
from chatapp.gui.theme import FONT_SIZE_KEY, THEME_KEY, apply_font_size, apply_theme
from tests.chatapp.gui.bare_window import open_bare_window, save_shot


@pytest.fixture(autouse=True)
def _appearance_restored() -> Iterator[None]:
    """Theme and font are app-wide: later tests start from the defaults again."""
    yield
    apply_theme("system")
    apply_font_size(11)


def checked(actions: dict) -> list:
    return [value for value, action in actions.items() if action.isChecked()]


def test_the_app_starts_at_the_size_the_menu_calls_normal(qtbot, store):
    apply_font_size(9)  # Qt's own default on a bare X11 session, which the menu calls Small
    window = open_bare_window(qtbot, store)
    assert QApplication.font().pointSize() == 11
    normal = window.menus.appearance.font_actions[11]
    assert normal.text() == "Normal" and checked(window.menus.appearance.font_actions) == [11]
    assert checked(window.menus.appearance.theme_actions) == ["system"]


def test_the_settings_menus_mark_the_current_font_size_and_theme(qtbot, store):
    window = open_bare_window(qtbot, store)
    larger = next(a for a in window.menus.appearance.font_actions.values() if a.text() == "Larger")
    larger.trigger()
    assert QApplication.font().pointSize() == 16
    assert checked(window.menus.appearance.font_actions) == [16]
    assert larger.actionGroup().isExclusive()
    window.menus.appearance.theme_actions["dark"].trigger()
    assert checked(window.menus.appearance.theme_actions) == ["dark"]
    saved = saved_settings.data_settings(store.path)
    assert saved.value(FONT_SIZE_KEY, type=int) == 16 and saved.value(THEME_KEY) == "dark"
    window.close()
    again = open_bare_window(qtbot, store)
    assert checked(again.menus.appearance.font_actions) == [16]
    assert checked(again.menus.appearance.theme_actions) == ["dark"]


def fully_shown(widget: QWidget, viewport: QWidget) -> bool:
    """Nothing of `widget` is cut off at the left or right of `viewport` (it scrolls down)."""
    rect = QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())
    return viewport.rect().left() <= rect.left() and rect.right() <= viewport.rect().right()


@pytest.mark.parametrize("points", [11, 16])
def test_the_decoding_dock_is_not_cut_off(qtbot, store, tmp_path, points):
    window = open_bare_window(qtbot, store)
    window.menus.appearance.font_actions[points].trigger()  # Settings › Font size
    labels = window.decoding_panel.knob_labels.values()
    qtbot.waitUntil(lambda: all(label.width() >= label.sizeHint().width() for label in labels))
    scroll = window.decoding_dock.widget()
    assert not scroll.horizontalScrollBar().isVisible()
    viewport = scroll.viewport()
    for spin in window.decoding_panel.findChildren(QAbstractSpinBox):
        assert spin.width() >= spin.minimumSizeHint().width(), spin.objectName()
        assert fully_shown(spin, viewport), spin.objectName()  # its arrows too
    for button in window.decoding_panel.findChildren(QPushButton):
        assert button.width() >= button.sizeHint().width(), button.text()  # whole label
        assert fully_shown(button, viewport), button.text()
    save_shot(window.decoding_dock, f"dock_{points}pt.png", tmp_path)


def test_in_a_small_window_the_sidebar_and_dock_give_way_first(qtbot, store, tmp_path):
    window = open_bare_window(qtbot, store)
    wide = (window.sidebar.width(), window.decoding_dock.width())
    window.resize(700, 480)
    qtbot.waitUntil(lambda: window.width() <= 700)
    chat = window.chat_view.parentWidget()
    assert chat.width() >= CHAT_MIN_WIDTH  # it was 140 px
    assert window.sidebar.width() < wide[0] and window.decoding_dock.width() <= wide[1]
    save_shot(window, "window_700x480.png", tmp_path)


def ink(image: QImage) -> float:
    """The largest lightness difference from the image's most common (background) colour."""
    counts: dict[int, int] = {}
    pixels = [
        image.pixelColor(x, y).lightness()
        for x in range(image.width())
        for y in range(image.height())
    ]
    for value in pixels:
        counts[value] = counts.get(value, 0) + 1
    background = max(counts, key=counts.__getitem__)
    return max(abs(value - background) for value in pixels)


def dark_window(qtbot, store) -> MainWindow:
    window = open_bare_window(qtbot, store)
    window.menus.appearance.theme_actions["dark"].trigger()
    qtbot.waitUntil(
        lambda: QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
    )
    return window


def test_in_the_dark_theme_a_disabled_control_looks_disabled(qtbot, store, tmp_path):
    window = dark_window(qtbot, store)
    send = window.composer.send_button
    assert not send.isEnabled()  # nothing typed yet
    disabled = ink(send.grab().toImage())
    window.composer.edit.setPlainText("hello")
    assert send.isEnabled()
    enabled = ink(send.grab().toImage())
    assert disabled < 0.7 * enabled, (disabled, enabled)
    palette = QApplication.palette()
    group, role = QPalette.ColorGroup, QPalette.ColorRole.ButtonText
    assert palette.color(group.Disabled, role) != palette.color(group.Active, role)
    save_shot(window, "dark_theme.png", tmp_path)


def test_in_the_dark_theme_the_dock_buttons_and_show_archived_are_visible(qtbot, store):
    window = dark_window(qtbot, store)
    background = QApplication.palette().color(QPalette.ColorRole.Window).lightness()
    dock = window.decoding_dock
    title_buttons = [b for b in dock.findChildren(QAbstractButton) if b.parentWidget() is dock]
    assert len(title_buttons) == 2  # float and close
    for button in title_buttons:
        image = button.grab().toImage()
        assert max_contrast(image, background) > 100, button.metaObject().className()
    box = window.sidebar.archived_box
    indicator = box.grab(QRect(0, 0, box.height(), box.height())).toImage()
    assert max_contrast(indicator, background) > 60


def max_contrast(image: QImage, background: int) -> int:
    return max(
        abs(QColor(image.pixel(x, y)).lightness() - background)
        for x in range(image.width())
        for y in range(image.height())
    )
