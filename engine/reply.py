"""What the engine hands back for one turn: the reply, its alternatives and their provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.decoding.config import DecodeConfig
from engine.sources import ReplySource

if TYPE_CHECKING:
    from engine.memory import MemoryMatch


def text_key(text: str) -> str:
    """How two candidate replies are told to be the same: case and spacing folded."""
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class Alternative:
    text: str
    score: float
    finished: bool
    # rerank only: log p(reply | context) per token, and the MMI term it was weighed against
    forward_score: float | None = None
    mmi_score: float | None = None
    source: ReplySource = ReplySource.MODEL  # who wrote it (engine/sources.py)
    origin: str = ""  # which corpus conversation or correction, when not the model


@dataclass(frozen=True)
class Reply:
    text: str
    tokens: list[int]
    alternatives: list[Alternative]  # the n-best list, best first (the reply itself included)
    config: DecodeConfig
    seed: int | None  # the sampling seed actually used, so a reply can be reproduced
    cancelled: bool
    first_token_ms: float | None
    total_ms: float
    context_pieces: list[str] = field(default_factory=list)
    reply_pieces: list[str] = field(default_factory=list)
    attention: list[list[float]] = field(default_factory=list)  # (reply pieces, context pieces)
    scorer: str | None = None  # rerank only: "backward model" or "anti-LM"
    memory: MemoryMatch | None = None  # a saved correction that matched (engine/memory.py)
    source: ReplySource = ReplySource.MODEL  # who wrote the reply (pool: any source)
    origin: str = ""  # the corpus conversation or correction it came from
    # Retrieve and refine: the reply people wrote that the model read before writing, and where
    # it came from ("" when the model reads no exemplar, or read none).
    exemplar: str = ""
    exemplar_origin: str = ""

    @property
    def tokens_per_second(self) -> float:
        return len(self.tokens) / max(self.total_ms / 1000, 1e-9)
