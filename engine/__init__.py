"""The engine: tokenizer, model, training, checkpoints and decoding. No Qt, no SQLAlchemy.

Names are imported on first use (PEP 562), so `import engine.decoding.config` or
`from engine import DecodeConfig` does not pay for importing PyTorch: the desktop app shows its
window first and loads torch in the engine thread.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Alternative": "engine.chatbot",
    "Chatbot": "engine.chatbot",
    "Reply": "engine.chatbot",
    "ModelConfig": "engine.config",
    "DecodeConfig": "engine.decoding.config",
    "decode_preset": "engine.decoding.config",
    "CheckpointError": "engine.errors",
    "ConfigError": "engine.errors",
    "DataError": "engine.errors",
    "EngineError": "engine.errors",
    "GenerationError": "engine.errors",
}
__all__ = [
    "Alternative",
    "Chatbot",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DecodeConfig",
    "EngineError",
    "GenerationError",
    "ModelConfig",
    "Reply",
    "decode_preset",
]

if TYPE_CHECKING:
    from engine.chatbot import Alternative, Chatbot, Reply
    from engine.config import ModelConfig
    from engine.decoding.config import DecodeConfig, decode_preset
    from engine.errors import (
        CheckpointError,
        ConfigError,
        DataError,
        EngineError,
        GenerationError,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
