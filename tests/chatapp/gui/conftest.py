"""A real main window over a real store in tmp_path and the session's tiny model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.gui.main_window import MainWindow
from chatapp.store import Store
from tests.chatapp.gui.helpers import open_main_window


@pytest.fixture(autouse=True)
def _settings_in_tmp_path(isolated_settings: None) -> Iterator[None]:
    yield


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "conversations.db")
    yield store
    store.close()


@pytest.fixture
def window(qtbot, store: Store, tiny_model_dir: Path) -> Iterator[MainWindow]:
    window = open_main_window(qtbot, store, tiny_model_dir)
    yield window
    window.close()
