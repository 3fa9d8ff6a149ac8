"""The window against damaged settings and heavy searches: it starts, stays responsive, and says
what it reset (docs/RELIABILITY.md, "Window")."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

from chatapp.app import make_application
from tests.robustness.helpers import open_window

DAMAGED = {
    "ui/font_size": "abc",
    "ui/theme": "42",
    "window/geometry": "garbage",
    "window/state": 7,
    "window/splitter": QByteArray(b"\x00not a splitter state"),
}


def test_damaged_settings_fall_back_to_defaults_and_the_user_is_told_once(
    qtbot, store, tiny_model_dir
):
    make_application()  # the app's own settings file (under its organisation name)
    settings = QSettings()
    for key, value in DAMAGED.items():
        settings.setValue(key, value)
    settings.sync()

    make_application()  # reads the theme and the font size
    window = open_window(qtbot, store, tiny_model_dir)
    told = window.banner.text()
    assert "back to their defaults" in told and all(key in told for key in DAMAGED), told
    assert window.controller.model_ready
    settings = QSettings()
    assert [key for key in DAMAGED if settings.contains(key)] == []
    window.close()  # saves good values again

    make_application()
    again = open_window(qtbot, store, tiny_model_dir)
    assert "back to their defaults" not in again.banner.text()
    again.close()
