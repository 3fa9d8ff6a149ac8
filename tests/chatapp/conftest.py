"""Fixtures shared by the app's tests (store, GUI, fine-tuning)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings


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
