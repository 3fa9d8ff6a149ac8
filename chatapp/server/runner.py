"""Runs the API server: in the foreground (`main.py serve`) or on a thread (the app, tests).

The socket is bound here, before uvicorn starts, so that a port in use or an address that is
not this machine's is one clear `OSError` for the caller instead of a log line in a thread.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn

from chatapp.server.app import build_app
from chatapp.server.history import ApiHistory
from chatapp.server.settings import ServerSettings
from chatapp.server.worker import ModelWorker

if TYPE_CHECKING:
    from engine import Chatbot

GRACE_SECONDS = 2  # open streams get this long to end when the server stops


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); `OSError` if it cannot be."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _load(settings: ServerSettings) -> Chatbot:
    from engine import Chatbot  # on the worker's thread: torch loads there, not in the caller's

    return Chatbot.load(settings.model_dir, device=settings.device)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn's, but without raising SIGINT/SIGTERM again once stopped: `serve` then
        returns normally, the database is closed and the command exits 0."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class LocalServer:
    """One server: its model worker, its socket, uvicorn. `start` / `stop` on a thread, or
    `serve` in the foreground until Ctrl+C."""

    def __init__(
        self, settings: ServerSettings, *, load: Callable[[], Chatbot] | None = None
    ) -> None:
        """Raises `StoreError` for a `db_path` that cannot be used."""
        self.settings = settings
        self.history = (
            ApiHistory.open(settings.db_path, settings.model_dir) if settings.db_path else None
        )
        self.worker = ModelWorker(
            load or (lambda: _load(settings)),
            queue_size=settings.queue_size,
            history=self.history,
        )
        config = uvicorn.Config(
            build_app(settings, self.worker),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACE_SECONDS,
        )
        self._server = _Server(config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1] if self._socket else self.settings.port

    @property
    def base_url(self) -> str:
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def listen(self) -> socket.socket:
        """Bind the address (`OSError` if it cannot be used) and start the model worker."""
        if self._socket is None:
            self._socket = bind(self.settings.host, self.settings.port)
            self.worker.start()
        return self._socket

    def start(self, timeout: float = 10.0) -> None:
        """Bind (`OSError` if the address cannot be used) and serve on a thread; returns once
        requests are answered (the model may still be loading: /health says so)."""
        sock = self.listen()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="api-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise TimeoutError("the API server did not start in time")
            time.sleep(0.01)

    def serve(self) -> None:
        """Serve in this thread until Ctrl+C or SIGTERM (uvicorn handles both)."""
        try:
            self._server.run(sockets=[self.listen()])
        finally:
            self._close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop answering (open streams get `GRACE_SECONDS`), then stop the model worker."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._close()

    def _close(self) -> None:
        self.worker.stop()
        if self._socket is not None:
            self._socket.close()
        if self.history is not None:
            self.history.close()
