"""How a bot reply was made: the provenance that travels from the engine to the reply's row.

`GenerationInfo.from_reply` is the one place that reads an `engine.Reply` for the store; the
app and the terminal chat both use it, and `add_bot_reply` / `add_alternative` take one. The
store keeps it as JSON columns (an older row reads back the same way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatapp.store.models import INT64

if TYPE_CHECKING:
    from chatapp.store.records import MessageRecord
    from engine import Reply

RANKED_STRATEGIES = ("beam", "rerank", "pool")  # the strategies whose n-best list is kept
SCORED_STRATEGIES = ("rerank", "pool")  # their candidates keep the forward and MMI terms


@dataclass(frozen=True)
class ReplyTimings:
    ttft_ms: float | None  # to the first token (None when nothing streamed)
    total_ms: float
    tokens: int
    tokens_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"ttft_ms": self.ttft_ms, "total_ms": self.total_ms, "tokens": self.tokens,
                "tokens_per_s": self.tokens_per_s}  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """One entry of the n-best list: its text and ranking score; a reranked one also keeps
    log p(reply | context) and the MMI term (per token), and whether it was cut at the length
    limit (rerank ranks those below every finished reply, whatever their score)."""

    text: str
    score: float
    forward: float | None = None
    mmi: float | None = None
    cut: bool = False
    source: str = "model"  # engine.sources.ReplySource's value: who wrote it
    origin: str = ""  # the corpus conversation or correction it came from


@dataclass(frozen=True)
class GenerationInfo:
    model_version_id: int | None = None
    decoding: Mapping[str, Any] | None = None  # `DecodeConfig.to_dict()`: every knob used
    seed: int | None = None  # the sampling seed actually used, so the reply can be reproduced
    timings: ReplyTimings | None = None
    nbest: tuple[Candidate, ...] | None = None  # beam and rerank only, best first
    scorer: str | None = None  # rerank only: what scored the MMI term
    memory: Mapping[str, Any] | None = None  # the saved correction that answered, if one did
    stopped: bool = False  # cut short by Stop
    source: str = "model"  # who wrote the reply (engine.sources.ReplySource's value)
    origin: str = ""  # the corpus conversation or correction it came from

    @classmethod
    def from_reply(cls, reply: Reply, model_version_id: int | None) -> GenerationInfo:
        strategy = reply.config.strategy
        nbest = None
        if strategy in RANKED_STRATEGIES:
            reranked = strategy in SCORED_STRATEGIES
            nbest = tuple(
                Candidate(a.text, a.score, a.forward_score if reranked else None,
                          a.mmi_score if reranked else None, cut=reranked and not a.finished,
                          source=a.source.value, origin=a.origin)
                for a in reply.alternatives
            )  # fmt: skip
        return cls(
            model_version_id=model_version_id,
            decoding=reply.config.to_dict(),
            seed=reply.seed,
            timings=ReplyTimings(
                reply.first_token_ms, reply.total_ms, len(reply.tokens), reply.tokens_per_second
            ),
            nbest=nbest,
            scorer=reply.scorer if strategy in SCORED_STRATEGIES else None,
            memory=reply.memory.describe() if reply.memory is not None else None,
            stopped=reply.cancelled,
            source=reply.source.value,
            origin=reply.origin,
        )

    @classmethod
    def like(cls, record: MessageRecord, text: str | None = None) -> GenerationInfo:
        """The provenance of an existing reply, for `text` picked from its n-best list: the
        same settings and list, and the picked candidate's own source."""
        nbest = (
            tuple(
                Candidate(
                    e["text"], e["score"], e.get("forward"), e.get("mmi"), e.get("cut") is True,
                    source=str(e.get("source", "model")), origin=str(e.get("origin", "")),
                )
                for e in record.nbest
            )
            if record.nbest is not None
            else None
        )  # fmt: skip
        picked = next((c for c in nbest or () if c.text == text), None)
        decoding = record.decoding
        if isinstance(decoding, Mapping):
            decoding = {key: value for key, value in decoding.items() if key != "provenance"}
        return cls(
            model_version_id=record.model_version_id,
            decoding=decoding,
            nbest=nbest,
            scorer=next((e["scorer"] for e in record.nbest or () if e.get("scorer")), None),
            source=picked.source if picked is not None else "model",
            origin=picked.origin if picked is not None else "",
        )

    def decoding_column(self) -> dict[str, Any] | None:
        """The stored decoding settings; a memory answer is recorded with them (Details…)."""
        if self.decoding is None:
            return None
        column = dict(self.decoding)
        if self.memory is not None:
            column["memory"] = dict(self.memory)
        if self.source != "model":  # a model-written reply says nothing more (as before)
            column["provenance"] = {"source": self.source, "origin": self.origin}
        return column

    def nbest_column(self) -> list[dict[str, Any]] | None:
        if self.nbest is None:
            return None
        entries = []
        for candidate in self.nbest:
            entry: dict[str, Any] = {"text": candidate.text, "score": candidate.score}
            for name in ("forward", "mmi"):
                if getattr(candidate, name) is not None:
                    entry[name] = getattr(candidate, name)
            if candidate.cut:
                entry["cut"] = True
            if candidate.source != "model":
                entry["source"], entry["origin"] = candidate.source, candidate.origin
            if self.scorer is not None:
                entry["scorer"] = self.scorer
            entries.append(entry)
        return entries


# The columns a bot reply's row keeps ---------------------------------------------------------
def _nbest_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One n-best candidate: its text and ranking score; a reranked one also keeps its two
    parts (log p(reply | context) and the MMI term, per token), what scored the MMI term, and
    whether it was cut at the length limit."""
    kept: dict[str, Any] = {"text": str(entry["text"]), "score": float(entry["score"])}
    for name in ("forward", "mmi"):
        if entry.get(name) is not None:
            kept[name] = float(entry[name])
    if entry.get("cut") is True:
        kept["cut"] = True
    if entry.get("scorer") is not None:
        kept["scorer"] = str(entry["scorer"])
    if isinstance(entry.get("source"), str) and entry["source"] != "model":
        kept["source"] = entry["source"]
        kept["origin"] = str(entry.get("origin") or "")
    return kept


def _scores_of(entry: Mapping[str, Any]) -> list[float]:
    return [entry[name] for name in ("score", "forward", "mmi") if name in entry]


def generation_columns(info: GenerationInfo | None) -> dict[str, Any]:
    """The columns that record how a bot reply was made, checked and made JSON-ready."""
    info = info or GenerationInfo()
    if info.seed is not None and info.seed not in INT64:
        raise ValueError(f"seed {info.seed} does not fit in 64 bits")
    nbest = info.nbest_column()
    if nbest is not None:
        nbest = [_nbest_entry(entry) for entry in nbest]
        if any(not math.isfinite(value) for entry in nbest for value in _scores_of(entry)):
            raise ValueError("n-best scores must be finite numbers")
    return {
        "model_version_id": info.model_version_id,
        "decoding": info.decoding_column(),
        "seed": info.seed,
        "timings": info.timings.to_dict() if info.timings is not None else None,
        "nbest": nbest,
        "stopped": info.stopped,
    }
