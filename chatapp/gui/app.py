"""Start the desktop app: Qt application, store, the one `AppContext`, and the main window."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from chatapp import APP_ID, APP_NAME, ORG_NAME, __version__
from chatapp.finetune.guard import close_interrupted_runs
from chatapp.gui.context import AppContext, AppPaths
from chatapp.gui.engine_client import EngineClient
from chatapp.gui.main_window import MainWindow
from chatapp.gui.saved_settings import checked_value, is_font_size, is_theme
from chatapp.gui.theme import apply_font_size, apply_theme
from chatapp.paths import DataPathError, resolve_data_dir, resolve_db_path
from chatapp.store import Store
from chatapp.store.errors import StoreError
from chatapp.store.versions import model_to_load


@dataclass(frozen=True)
class AppOptions:
    model: str | None = None
    db: str | None = None
    data_dir: str | None = None
    device: str = "auto"
    quantize: str = "none"


def icon_path() -> Path:
    return Path(str(resources.files("resources") / "icons" / "app.png"))


def make_application(argv: list[str] | None = None) -> QApplication:
    QCoreApplication.setOrganizationName(ORG_NAME)
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setWindowIcon(QIcon(str(icon_path())))
    # Wayland shells match the window to `install-desktop`'s entry by this name.
    QGuiApplication.setDesktopFileName(APP_ID)
    settings = QSettings()  # damaged values fall back to defaults; the window says so once
    apply_theme(str(checked_value(settings, "ui/theme", is_theme) or "system"))
    font_size = checked_value(settings, "ui/font_size", is_font_size)
    if font_size is not None:
        apply_font_size(int(str(font_size)))
    return app


def open_store(options: AppOptions) -> Store:
    store = Store.open(resolve_db_path(options.db, options.data_dir))  # makes the daily backup
    # A fine-tune killed with the app last time; one still running (from the command line)
    # holds the lock and is left alone.
    close_interrupted_runs(store, resolve_data_dir(options.data_dir))
    return store


def create_context(options: AppOptions, store: Store) -> AppContext:
    """The one context the window and every dialog share."""
    engine = EngineClient(device=options.device, quantize=options.quantize)
    paths = AppPaths(model_dir=options.model, data_dir=options.data_dir, device=options.device)
    return AppContext.create(store, engine, paths)


def create_window(options: AppOptions, store: Store) -> MainWindow:
    """The window appears at once; the model loads in the engine thread behind it."""
    context = create_context(options, store)
    window = MainWindow(context)
    context.engine.load_model(model_to_load(store, options.model))
    return window


def run_app(options: AppOptions) -> int:
    app = make_application()
    try:
        store = open_store(options)
    except (StoreError, DataPathError) as error:  # a bad --db or --data-dir too
        print(f"seq2seq-chat: error: {error}", file=sys.stderr)
        QMessageBox.critical(
            None, APP_NAME, f"The conversation database could not be opened.\n\n{error}"
        )
        return 2
    window = create_window(options, store)
    window.show()
    try:
        return app.exec()
    finally:
        store.close()
