"""Saved corrections, and replies rated up, as the engine's memory (shared by the app and the
terminal chat)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatapp.store.records import CorrectionRecord
from engine.pairs import PairKind
from engine.sources import ReplySource

if TYPE_CHECKING:  # engine.memory loads torch: the window reads SETTING_KEY without it
    from engine.memory import Correction

SETTING_KEY = "memory/corrections"  # QSettings: answer at once from saved corrections (bool)


def to_corrections(records: Sequence[CorrectionRecord]) -> list[Correction]:
    """Engine corrections, oldest first (so the latest one for a prompt wins); a liked reply
    says which conversation it was liked in."""
    from engine.memory import Correction

    corrections = []
    for record in records:
        when = record.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        liked = record.kind is PairKind.LIKED
        corrections.append(
            Correction(
                prompt=record.prompt,
                reply=record.text,
                when=when,
                source_id=record.message_id,
                source=ReplySource.LIKED if liked else ReplySource.CORRECTION,
                origin=f"conversation {record.conversation_id}, {when}" if liked else "",
            )
        )
    return corrections
