"""Settings › Local API server: the same server as `main.py serve`, started from the app.

Off by default. Turned on, it serves the model the window has loaded on 127.0.0.1 with a key
made once and kept with the data dir's settings; the banner shows the address and the key, and
a mark in the status bar says it runs (its tooltip repeats both). Binding and stopping happen
on a short-lived thread, so the window never waits; quitting the app stops the server.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow

from chatapp.gui.banner import BannerKind
from chatapp.gui.saved_settings import checked_value
from chatapp.server import DEFAULT_PORT, ServerSettings
from chatapp.store import StoreError

if TYPE_CHECKING:
    from chatapp.server.runner import LocalServer

KEY_SETTING = "server/api_key"
PORT_SETTING = "server/port"
QUIT_TIMEOUT_S = 5.0  # the app waits at most this long for the server to stop

Notify = Callable[..., None]  # (text, *, kind, timeout_ms): the window's banner


def _is_port(value: object) -> bool:
    text = str(value).strip()
    return text.isascii() and text.isdigit() and int(text) <= 65535


class ServerToggle(QObject):
    started = Signal(str)  # the base URL, once requests are answered
    stopped = Signal()
    failed = Signal(str)
    _outcome = Signal(object, str)  # from the start thread: the server (or None), an error

    def __init__(
        self,
        window: QMainWindow,
        settings: QSettings,
        *,
        model_dir: Callable[[], str | None],
        device: str,
        notify: Notify,
    ) -> None:
        super().__init__(window)
        self.settings, self.model_dir, self.device, self.notify = (
            settings,
            model_dir,
            device,
            notify,
        )
        self.server: LocalServer | None = None
        self.state = "off"  # off | starting | on | stopping
        self.action = QAction("Local &API server (OpenAI-compatible)", window)
        self.action.setCheckable(True)
        self.action.setToolTip(
            f"Let other programs on this computer chat with the model at "
            f"http://127.0.0.1:{self.port}/v1 (the key is shown once it runs)."
        )
        self.action.toggled.connect(self._toggled)
        self.mark = QLabel("● API", window)
        self.mark.setObjectName("apiServerMark")
        self.mark.hide()
        window.statusBar().addPermanentWidget(self.mark)
        self._outcome.connect(self._on_outcome)
        self.stopped.connect(self._set_off)
        self._quitting = threading.Event()

    @property
    def port(self) -> int:
        port = checked_value(self.settings, PORT_SETTING, _is_port)
        return int(str(port)) if port is not None else DEFAULT_PORT

    @property
    def api_key(self) -> str:
        """Made the first time the server runs, then kept with the data dir's settings."""
        key = checked_value(self.settings, KEY_SETTING, lambda value: bool(str(value).strip()))
        if key is None:
            key = secrets.token_urlsafe(24)
            self.settings.setValue(KEY_SETTING, key)
        return str(key)

    @Slot(bool)
    def _toggled(self, on: bool) -> None:
        if on and self.state == "off":
            self._start()
        elif not on and self.state == "on":
            self._stop()

    def _start(self) -> None:
        self.state = "starting"
        self.mark.setText("○ API starting…")
        self.mark.show()
        settings = ServerSettings(
            port=self.port, api_key=self.api_key, model_dir=self.model_dir(), device=self.device
        )
        threading.Thread(target=self._start_in_background, args=(settings,), daemon=True).start()

    def _start_in_background(self, settings: ServerSettings) -> None:
        from chatapp.server.runner import LocalServer  # uvicorn and torch load off the GUI thread

        try:
            server = LocalServer(settings)
            server.start()
        except (OSError, TimeoutError, StoreError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            self._outcome.emit(None, f"port {settings.port}: {reason}")
            return
        if self._quitting.is_set():  # the app quit while it was starting
            server.stop(QUIT_TIMEOUT_S)
            return
        self._outcome.emit(server, "")

    @Slot(object, str)
    def _on_outcome(self, server: LocalServer | None, error: str) -> None:
        if server is None:
            self._set_off()
            self.notify(f"The local API server could not start on {error}.", kind=BannerKind.ERROR)
            self.failed.emit(error)
            return
        self.server, self.state = server, "on"
        if not self.action.isChecked():  # turned off again while it was starting
            self._stop()
            return
        self.mark.setText("● API")
        self.mark.setToolTip(f"Local API server at {server.base_url}\nKey: {self.api_key}")
        self.notify(
            f"Local API server at {server.base_url} — key: {self.api_key} "
            "(Settings › Local API server stops it)",
            kind=BannerKind.INFO,
            timeout_ms=30_000,
        )
        self.started.emit(server.base_url)

    def _stop(self) -> None:
        server, self.server = self.server, None
        self.state = "stopping"
        self.mark.setText("○ API stopping…")
        if server is None:
            self._set_off()
            return

        def stop() -> None:
            server.stop()
            self.stopped.emit()  # queued to the GUI thread, where `_set_off` runs

        threading.Thread(target=stop, daemon=True).start()

    @Slot()
    def _set_off(self) -> None:
        self.state = "off"
        self.mark.hide()
        self.action.blockSignals(True)
        self.action.setChecked(False)
        self.action.blockSignals(False)

    def shut_down(self) -> None:
        """Quitting: stop the server now (bounded), so nothing keeps serving the model."""
        self._quitting.set()
        if self.server is not None:
            self.server.stop(QUIT_TIMEOUT_S)
            self.server = None
        self.state = "off"
