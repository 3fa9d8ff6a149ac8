"""The engine's error types: each carries a message fit to show a user as it is."""

from __future__ import annotations


class EngineError(Exception):
    """Base class for errors the engine reports to its callers."""


class ConfigError(EngineError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class DataError(EngineError, ValueError):
    """A corpus or data file cannot be read (the message names the file and line)."""


class CheckpointError(EngineError):
    """A model directory is missing, incomplete, corrupt or of another architecture."""


class GenerationError(EngineError, ValueError):
    """A reply cannot be generated for this input (empty turn, for instance)."""
