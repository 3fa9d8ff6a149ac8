"""Fixtures for the robustness suite: the real window, a fast reply, a network guard.

`window` and `store` are the GUI tests' own fixtures (a real `MainWindow` over a real store in
tmp_path, with the session's tiny model loaded), imported so both suites mean the same thing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from chatapp.gui.main_window import MainWindow
from tests.chatapp.conftest import _default_font_and_theme, _original_app_font, isolated_settings
from tests.chatapp.gui.conftest import _settings_in_tmp_path, store, window
from tests.robustness.helpers import fast_replies

__all__ = [
    "_default_font_and_theme",
    "_original_app_font",
    "_settings_in_tmp_path",
    "fast",
    "isolated_settings",
    "no_network",
    "store",
    "window",
]


@pytest.fixture
def fast(window: MainWindow) -> MainWindow:
    """The window, replying greedily with at most 3 tokens (a reply takes a few ms)."""
    fast_replies(window)
    return window


class NetworkAccess(AssertionError):
    """Raised by the guard: the app tried to open a network connection."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any attempt to connect or resolve a name fails the test; yields what was attempted."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args[1:] if args else kwargs)
        raise NetworkAccess(f"network access attempted: {args!r}")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
    assert attempts == [], f"the app tried to reach the network: {attempts}"
