"""Driving the window the way a user does: typing, pressing Enter, clicking chips."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QStyleOptionViewItem

from chatapp.gui.context import AppContext, AppPaths
from chatapp.gui.engine_client import EngineClient
from chatapp.gui.main_window import MainWindow
from chatapp.store import Store
from chatapp.store.records import MessageRecord

REPLY_TIMEOUT_MS = 30_000


def make_context(store: Store, model_dir: Path, data_dir: Path | None = None) -> AppContext:
    """The context `app.py` would build for `--model model_dir --data-dir data_dir`."""
    paths = AppPaths(
        model_dir=str(model_dir), data_dir=str(data_dir) if data_dir else None, device="cpu"
    )
    return AppContext.create(store, EngineClient(device="cpu"), paths)


def open_main_window(
    qtbot, store: Store, model_dir: Path, data_dir: Path | None = None
) -> MainWindow:
    """A real, shown window over `store`, its model loaded from `model_dir` and recorded."""
    context = make_context(store, model_dir, data_dir)
    window = MainWindow(context)
    qtbot.addWidget(window)
    with qtbot.waitSignal(context.switcher.model_ready, timeout=REPLY_TIMEOUT_MS):
        context.engine.load_model(str(model_dir))
    window.show()
    qtbot.waitExposed(window)
    return window


def send_and_wait(qtbot, window: MainWindow, text: str) -> MessageRecord:
    """Type `text` in the composer, press Enter, and wait for the stored reply."""
    window.composer.edit.setFocus()
    qtbot.keyClicks(window.composer.edit, text)
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    return blocker.args[0]


def click_chip(qtbot, window: MainWindow, row: int, action: str) -> None:
    view = window.chat_view
    index = window.messages.index(row)
    view.scrollTo(index)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(index)
    rect = window.delegate.chip_center(option, index, action)
    assert rect is not None, f"no {action!r} chip on row {row}"
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.center()))
    settle(qtbot, window)


def settle(qtbot, window: MainWindow) -> None:
    """Wait until the store actions asked for so far have run and reported back."""
    qtbot.waitUntil(lambda: not window.context.actions.busy, timeout=REPLY_TIMEOUT_MS)
