"""A real main window over a real store in tmp_path and the session's tiny model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.gui.engine_client import EngineClient
from chatapp.gui.main_window import MainWindow
from chatapp.store import Store

REPLY_TIMEOUT_MS = 30_000


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
    engine = EngineClient(device="cpu")
    window = MainWindow(store, engine, model_dir=str(tiny_model_dir), device="cpu")
    qtbot.addWidget(window)
    with qtbot.waitSignal(engine.model_loaded, timeout=REPLY_TIMEOUT_MS):
        engine.load_model(str(tiny_model_dir))
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()
