"""What every part of the desktop app shares, built once at start-up (`app.py`).

The main window and each dialog take an `AppContext` instead of reaching through the main
window: the store (read directly; written only through `actions`), the paths from the command
line, the engine client, the one model switcher, the settings, and a way to tell the user
something in the window's banner.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QSettings, Signal

from chatapp.gui.actions import StoreActions
from chatapp.gui.banner import BannerKind
from chatapp.gui.engine_client import EngineClient
from chatapp.gui.model_switcher import ModelSwitcher
from chatapp.gui.teach_counts import TeachCounts
from chatapp.store import Store


@dataclass(frozen=True)
class AppPaths:
    """Where things are, as the command line gave them (None: the default)."""

    model_dir: str | None = None  # --model
    data_dir: str | None = None  # --data-dir: the database, model versions, logs
    device: str = "auto"


class AppSignals(QObject):
    """App-wide happenings that parts without a reference to each other listen to."""

    message_shown = Signal(str, str, int)  # for the banner: text, kind, timeout in ms
    closing = Signal()  # the main window is closing: stop child processes cleanly


@dataclass(frozen=True)
class AppContext:
    store: Store
    engine: EngineClient
    paths: AppPaths
    actions: StoreActions
    switcher: ModelSwitcher
    signals: AppSignals
    counts: TeachCounts  # what fine-tuning can learn from: the status bar's and the dialog's

    @classmethod
    def create(cls, store: Store, engine: EngineClient, paths: AppPaths) -> AppContext:
        actions = StoreActions(store)
        signals = AppSignals()

        def notify(
            text: str, *, kind: BannerKind | str = BannerKind.ERROR, timeout_ms: int = 0
        ) -> None:
            signals.message_shown.emit(text, kind, timeout_ms)

        switcher = ModelSwitcher(actions, engine, default_model_dir=paths.model_dir, notify=notify)
        counts = TeachCounts(store, actions)
        return cls(store, engine, paths, actions, switcher, signals, counts)

    def show_message(
        self, text: str, *, kind: BannerKind | str = BannerKind.ERROR, timeout_ms: int = 0
    ) -> None:
        """Show `text` in the window's banner (errors never open a modal box)."""
        self.signals.message_shown.emit(text, kind, timeout_ms)

    @staticmethod
    def settings() -> QSettings:
        """The app-wide settings (window state, the last folder used); the user's choices
        live with the data dir (`saved_settings.data_settings`, the window's `settings`)."""
        return QSettings()

    def shut_down(self) -> None:
        """Stop the engine thread and let the queued store writes finish."""
        self.counts.close()
        self.engine.shut_down()
        self.actions.shut_down()
