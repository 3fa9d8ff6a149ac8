"""The engine: tokenizer, model, training, checkpoints and decoding. No Qt, no SQLAlchemy."""

from engine.chatbot import Alternative, Chatbot, Reply
from engine.config import ModelConfig
from engine.decoding import DecodeConfig, decode_preset
from engine.errors import CheckpointError, ConfigError, DataError, EngineError, GenerationError

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
