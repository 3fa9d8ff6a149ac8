"""Settings › Local API server: the app starts and stops the same server as `main.py serve`."""

from __future__ import annotations

import socket

import httpx
import openai
import pytest

from chatapp.gui.main_window import MainWindow
from chatapp.gui.server_toggle import PORT_SETTING

START_TIMEOUT_MS = 30_000


def _turn_on(qtbot, window: MainWindow) -> str:
    toggle = window.menus.server_toggle
    window.settings.setValue(PORT_SETTING, 0)  # a free port, not the default one
    with qtbot.waitSignal(toggle.started, timeout=START_TIMEOUT_MS) as started:
        toggle.action.trigger()
        # The outcome comes back through the event loop: the window did not wait for it.
        assert toggle.state == "starting" and toggle.mark.isVisible()
    return started.args[0]


def test_the_toggle_serves_the_model_and_stops_it(qtbot, window: MainWindow) -> None:
    toggle = window.menus.server_toggle
    settings_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Settings")
    assert toggle.action in settings_menu.actions()
    assert not toggle.action.isChecked() and toggle.mark.isHidden()  # off by default
    url = _turn_on(qtbot, window)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    key = toggle.api_key
    assert url in window.banner.text() and key in window.banner.text()
    assert toggle.mark.isVisible() and key in toggle.mark.toolTip()
    api = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=60)
    answer = api.chat.completions.create(
        model="x",
        messages=[{"role": "user", "content": "hello"}],
        extra_body={"strategy": "greedy"},
    )
    assert answer.choices[0].message.content == "hi there! how are you?"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="guess", max_retries=0).models.list()
    with qtbot.waitSignal(toggle.stopped, timeout=START_TIMEOUT_MS):
        toggle.action.trigger()
    assert not toggle.action.isChecked() and toggle.mark.isHidden()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models")
    assert toggle.api_key == key  # the same key next time


def test_quitting_the_app_stops_the_server(qtbot, window: MainWindow) -> None:
    url = _turn_on(qtbot, window)
    assert httpx.get(url.removesuffix("/v1") + "/health").status_code == 200
    window.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url.removesuffix("/v1") + "/health")


def test_a_port_in_use_is_said_and_the_toggle_goes_back_off(qtbot, window: MainWindow) -> None:
    toggle = window.menus.server_toggle
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        window.settings.setValue(PORT_SETTING, taken.getsockname()[1])
        with qtbot.waitSignal(toggle.failed, timeout=START_TIMEOUT_MS):
            toggle.action.trigger()
    assert "could not start" in window.banner.text() and "in use" in window.banner.text()
    assert not toggle.action.isChecked() and toggle.mark.isHidden() and toggle.state == "off"
