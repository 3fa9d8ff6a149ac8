"""How the local API server is set up: address, key, origins, model, database; checked once.

Both `main.py serve` and the app's toggle build one `ServerSettings`; a bad one is a
`ServerSettingsError` (the command prints it as one line and exits 2) before anything binds.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Clear of the ports other local chat servers take (LM Studio 1234, Ollama 11434, llama.cpp
# 8080, Jan 1337, GPT4All 4891, text-generation-webui 5000) and of AnkiConnect's 8765.
DEFAULT_PORT = 8347
DEFAULT_HOST = "127.0.0.1"
QUEUE_SIZE = 8  # requests waiting or running; one more gets 503 and Retry-After
MAX_BODY_BYTES = 64 * 1024
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


class ServerSettingsError(ValueError):
    """A setting the server refuses to start with (one line, said before anything binds)."""


def is_loopback(host: str) -> bool:
    """`host` (a name or an address) only ever reaches this machine."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0: any free port (the running server reports which)
    api_key: str | None = None  # required for any address that is not loopback
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call; none: CORS off
    model_dir: str | None = None  # None: the shipped model
    db_path: str | None = None  # None: API conversations are not kept
    device: str = "auto"
    queue_size: int = QUEUE_SIZE
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ServerSettingsError(f"the port must be between 0 and 65535, not {self.port}")
        if self.api_key is not None and not self.api_key.strip():
            raise ServerSettingsError("the API key is empty")
        if not is_loopback(self.host) and self.api_key is None:
            raise ServerSettingsError(
                f"refusing to serve on {self.host} without an API key: anyone who can reach "
                "it could use the model; give --api-key or --api-key-file, or bind 127.0.0.1"
            )
        for origin in self.cors_origins:
            if not _ORIGIN.match(origin):
                raise ServerSettingsError(
                    f"a CORS origin is a scheme and a host, like http://localhost:3000, "
                    f"not {origin!r} (and never '*')"
                )
        if self.queue_size < 1:
            raise ServerSettingsError(f"the queue size must be at least 1, not {self.queue_size}")
