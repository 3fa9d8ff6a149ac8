"""Fixtures shared by the app's tests (store, GUI, fine-tuning)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from chatapp.gui.theme import DEFAULT_THEME, apply_theme


@pytest.fixture
def isolated_settings(tmp_path: Path) -> Iterator[None]:
    """QSettings go to tmp_path, never to the developer's own settings."""
    QCoreApplication.setOrganizationName("Seq2SeqChatTests")
    QCoreApplication.setApplicationName("Seq2Seq Chat Tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings")
    )
    QSettings().clear()
    yield


@pytest.fixture(scope="session")
def _original_app_font(qapp: QApplication) -> QFont:
    """The application's font before any test changed it."""
    return QFont(qapp.font())


@pytest.fixture(autouse=True)
def _default_font_and_theme(qapp: QApplication, _original_app_font: QFont) -> Iterator[None]:
    """Each test starts with the app's own font and the default theme: a window or a test that
    changes them (the Appearance menus) would otherwise leave a 16 pt font or a dark palette to
    every test after it, and their pixel and layout checks would depend on the order run."""
    yield
    apply_theme(DEFAULT_THEME)
    qapp.setFont(_original_app_font)
    # Data a test left on the clipboard (a QMimeData made in Python) would be destroyed by Qt's
    # own exit handlers after Python has finalised: pytest then segfaults at exit (rc 139).
    QApplication.clipboard().clear()
