"""The local OpenAI-compatible API server: `/v1/models`, `/v1/chat/completions` (streamed as
server-sent events too), `/v1/completions`, `/health`, on Starlette and uvicorn.

Safe by default: 127.0.0.1, a key required for any other address, a Host allowlist, CORS only
for listed origins, 64 KB bodies, a bounded queue in front of one model worker thread. Started
by `main.py serve` and by the app's Settings menu. Imports the store and the engine, never Qt.
`runner.LocalServer` runs one; importing this package alone loads neither torch nor uvicorn.
"""

from __future__ import annotations

from chatapp.server.settings import DEFAULT_PORT, ServerSettings, ServerSettingsError

__all__ = ["DEFAULT_PORT", "ServerSettings", "ServerSettingsError"]
