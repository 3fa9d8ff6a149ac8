"""Decoding: the settings, the strategies and the generation loop."""

from engine.decoding.config import DEFAULT_PRESET, KNOBS, PRESETS, DecodeConfig, decode_preset
from engine.decoding.generate import Generation, generate

__all__ = [
    "DEFAULT_PRESET",
    "KNOBS",
    "PRESETS",
    "DecodeConfig",
    "Generation",
    "decode_preset",
    "generate",
]
