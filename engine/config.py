"""Model hyper-parameters: one frozen dataclass, saved as JSON beside the weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError

ATTENTION_KINDS = ("dot", "general", "concat")
DIRECTIONS = ("forward", "backward")
# Far above any model this app trains, and low enough that a config (a typo, or a hostile
# model folder) cannot make it allocate more than a few GB before anything else is checked.
SIZE_LIMITS = {
    "vocab_size": (1, 262_144),
    "embedding_dim": (1, 4096),
    "hidden_size": (1, 4096),
    "num_layers": (1, 8),
    "context_turns": (1, 1000),
    "max_context_tokens": (4, 65_536),
    "max_response_tokens": (4, 4096),
}


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 4000  # SentencePiece pieces, special ids included
    embedding_dim: int = 128  # shared by encoder input, decoder input and the tied output layer
    hidden_size: int = 256  # decoder GRU width; the encoder uses half per direction
    num_layers: int = 1  # GRU layers, encoder and decoder alike
    attention: str = "general"  # Luong score: dot | general | concat
    dropout: float = 0.1  # between GRU layers and before the output layer
    tie_embeddings: bool = True  # the output layer reuses the embedding matrix (fewer weights)
    context_turns: int = 3  # how many earlier turns the encoder reads
    max_context_tokens: int = 96  # context budget, truncated from the left (oldest first)
    max_response_tokens: int = 40  # responses longer than this are cut in training
    tokenizer_type: str = "unigram"  # unigram | bpe | word (the classic baseline)
    # forward: context -> reply (the chat model); backward: reply -> the turn it answered, the
    # p(context | reply) scorer that `rerank` decoding uses (Li et al. 2016, MMI).
    direction: str = "forward"
    # Retrieve and refine (engine/exemplars.py): the encoder may read, after the context, an
    # `<exemplar>` marker and a reply people wrote. The marker is one embedding row past the
    # tokenizer's pieces (id `vocab_size`): no text encodes to it and the output layer never
    # produces it.
    exemplar: bool = False

    @property
    def exemplar_id(self) -> int:
        return self.vocab_size

    def __post_init__(self) -> None:
        for name, (low, high) in SIZE_LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                allowed = (
                    f"a positive integer up to {high:,}"
                    if low == 1
                    else f"an integer from {low} to {high:,}"
                )
                raise ConfigError(f"model config: {name} must be {allowed}, not {value!r}")
        if self.hidden_size % 2:
            raise ConfigError("model config: hidden_size must be even (bidirectional encoder)")
        if self.attention not in ATTENTION_KINDS:
            raise ConfigError(
                f"model config: attention must be one of {', '.join(ATTENTION_KINDS)}, "
                f"not {self.attention!r}"
            )
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model config: dropout must be in [0, 1), not {self.dropout!r}")
        if self.tokenizer_type not in ("unigram", "bpe", "word"):
            raise ConfigError(f"model config: unknown tokenizer_type {self.tokenizer_type!r}")
        if not isinstance(self.exemplar, bool):
            raise ConfigError(
                f"model config: exemplar must be true or false, not {self.exemplar!r}"
            )
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"model config: direction must be forward or backward, not {self.direction!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if not isinstance(data, dict):
            raise ConfigError("model config must be a JSON object")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"model config: unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as error:
            raise ConfigError(f"model config: {error}") from error


PRESETS: dict[str, ModelConfig] = {
    # Trains in seconds on a laptop CPU; for tests and trying things out.
    "tiny": ModelConfig(
        vocab_size=500, embedding_dim=32, hidden_size=64, num_layers=1, dropout=0.0,
        max_context_tokens=48, max_response_tokens=24,
    ),
    "small": ModelConfig(vocab_size=4000, embedding_dim=128, hidden_size=256, num_layers=1),
    "base": ModelConfig(
        vocab_size=8000, embedding_dim=256, hidden_size=512, num_layers=2, dropout=0.2,
        context_turns=3, max_context_tokens=128, max_response_tokens=48,
    ),
}  # fmt: skip


def preset(name: str, **overrides: Any) -> ModelConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)
