"""Saved corrections as the engine's memory (shared by the app and the terminal chat)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatapp.store.records import CorrectionRecord

if TYPE_CHECKING:  # engine.memory loads torch: the window reads SETTING_KEY without it
    from engine.memory import Correction

SETTING_KEY = "memory/corrections"  # QSettings: answer at once from saved corrections (bool)


def to_corrections(records: Sequence[CorrectionRecord]) -> list[Correction]:
    """Engine corrections, oldest first (so the latest one for a prompt wins)."""
    from engine.memory import Correction

    return [
        Correction(
            prompt=record.prompt,
            reply=record.text,
            when=record.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            source_id=record.message_id,
        )
        for record in records
    ]
