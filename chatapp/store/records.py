"""Plain, frozen records that the store hands out.

Callers (widgets, the engine worker, the fine-tune command) never hold live ORM objects: a record
is a snapshot that stays valid after its session is gone and can cross threads freely. JSON
columns come back as plain `dict` / `list` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from engine.pairs import PairKind

Role = Literal["user", "bot"]
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]

DEFAULT_TITLE = "New conversation"
ROLES: tuple[Role, ...] = ("user", "bot")
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class ConversationRecord:
    id: int
    uid: str  # uuid4, stable across export / import
    title: str
    created_at: datetime  # timezone-aware, UTC
    updated_at: datetime  # last activity (a turn added, edited or regenerated)
    pinned: bool
    archived: bool
    message_count: int  # length of the chosen path
    preview: str  # the start of the last message shown, whitespace collapsed


@dataclass(frozen=True)
class MessageRecord:
    id: int
    uid: str
    conversation_id: int
    position: int  # index of the turn along the conversation, from 0
    role: Role
    text: str  # exactly what was typed or generated
    created_at: datetime
    parent_id: int | None  # for a regenerated reply: the message it was regenerated from
    chosen: bool  # on the conversation's visible path
    rating: int  # -1, 0 or +1
    corrected_text: str | None  # what the user says the bot should have answered
    stopped: bool  # the reply was cut short by Stop
    model_version_id: int | None
    decoding: dict[str, Any] | None  # the full decoding settings used
    seed: int | None
    timings: dict[str, Any] | None  # e.g. {"ttft_ms": .., "total_ms": .., "tokens": ..}
    nbest: list[dict[str, Any]] | None  # [{"text": str, "score": float}, ...]
    alternative_index: int  # 0-based rank of this message among its position's alternatives
    alternative_count: int  # messages at this position (1 when never regenerated)
    # Imported from a database whose model version is not in this one: its name, and what
    # the archive said of it ({"created_at", "lineage": [parent, ...], "data"}).
    imported_version: str | None = None
    imported_provenance: dict[str, Any] | None = None


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    conversation_title: str
    message_id: int
    position: int
    role: Role
    snippet: str  # a window of the text with the matches between the markers
    score: float  # bm25: lower is better
    created_at: datetime  # when the message was written


@dataclass(frozen=True)
class TrainingPair:
    context: list[str]  # the earlier turns of its branch, oldest first (maybe only the last)
    response: str  # the target: a correction, a liked reply, or the user's own turn
    kind: PairKind
    conversation_id: int
    message_id: int
    # Names the whole context, `context` may hold only its end: equal keys of one read of the
    # store, equal contexts once normalised. None: `context` is all of it (a pair made by hand).
    context_key: int | None = None

    def to_example(self) -> dict[str, Any]:
        """The engine's interchange format: `{"context": [...], "response": "..."}`."""
        return {"context": list(self.context), "response": self.response}


@dataclass(frozen=True)
class CorrectionRecord:
    """A saved correction as a memory: the user turn it answers and what the reply should be."""

    message_id: int  # the corrected bot reply
    conversation_id: int
    prompt: str  # the user turn before it on the visible path
    text: str  # the correction
    created_at: datetime  # when the corrected reply was made
    corrected_at: datetime  # when the correction was made: the latest teaching wins
    kind: PairKind = PairKind.CORRECTED  # LIKED: a reply rated up (`text` is the reply itself)


@dataclass(frozen=True)
class ModelVersionRecord:
    id: int
    name: str
    directory: str
    created_at: datetime
    parent_id: int | None  # the version it was fine-tuned from
    metrics: dict[str, Any] | None
    data: dict[str, Any] | None  # what it was trained on
    active: bool
    is_base: bool


@dataclass(frozen=True)
class FinetuneRunRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    examples: dict[str, int] | None  # training pairs by kind
    metrics: dict[str, Any] | None
    log: str
    model_version_id: int | None  # the version it produced


@dataclass(frozen=True)
class PresetRecord:
    id: int
    name: str
    config: dict[str, Any]  # decoding settings
    created_at: datetime


@dataclass(frozen=True)
class ImportSummary:
    conversations_added: int
    messages_added: int
    conversations_skipped: int  # already present (same uid)

    def describe(self) -> str:
        """One line for people, with each count's noun in the right number."""
        return (
            f"{counted(self.conversations_added, 'conversation')} "
            f"({counted(self.messages_added, 'message')}); "
            f"{self.conversations_skipped:,} already here "
            f"{'was' if self.conversations_skipped == 1 else 'were'} skipped"
        )


def counted(number: int, noun: str) -> str:
    """ "1 conversation", "2 conversations", "1,000 messages"."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
