"""A real main window without a model: for what the user sees before any reply is generated."""

from __future__ import annotations

import os
from pathlib import Path

from chatapp.gui.context import AppContext, AppPaths
from chatapp.gui.engine_client import EngineClient
from chatapp.gui.main_window import MainWindow
from chatapp.store import Store


def open_bare_window(qtbot, store: Store, *, size: tuple[int, int] = (1100, 720)) -> MainWindow:
    """A shown window over `store`; its engine thread runs but loads no model."""
    context = AppContext.create(store, EngineClient(device="cpu"), AppPaths(device="cpu"))
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


def save_shot(widget, name: str, fallback: Path) -> Path:
    """A screenshot for a person to look at: in SCREENSHOT_DIR if set, else in `fallback`."""
    folder = Path(os.environ.get("SCREENSHOT_DIR", fallback))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert widget.grab().save(str(path))
    return path
