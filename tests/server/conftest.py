"""A real API server (uvicorn on a free loopback port) over the session's tiny model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from chatapp.server import ServerSettings
from chatapp.server.runner import LocalServer

StartServer = Callable[..., LocalServer]


@pytest.fixture
def serve(tiny_model_dir: Path) -> Iterator[StartServer]:
    """`serve(**settings)`: a started server with those `ServerSettings` (port 0: a free one),
    its model loaded; stopped after the test."""
    servers: list[LocalServer] = []

    def start(**changes: Any) -> LocalServer:
        settings = ServerSettings(
            **{"port": 0, "model_dir": str(tiny_model_dir), "device": "cpu", **changes}
        )
        server = LocalServer(settings)
        servers.append(server)
        server.start()
        assert server.worker.ready.wait(60) and server.worker.load_error is None
        return server

    yield start
    for server in servers:
        server.stop()


def client(server: LocalServer, key: str = "unused") -> openai.OpenAI:
    """The official client; no retries, so a 503 is seen as it is."""
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=60)


def hello(**fields: Any) -> dict[str, Any]:
    """A chat request the tiny model knows ("hello" -> "hi there! how are you?")."""
    return {"model": "seq2seq-chat", "messages": [{"role": "user", "content": "hello"}], **fields}
