"""The conversation store: SQLite (WAL) through SQLAlchemy, migrated with Alembic.

Import from here: `Store`, the records it returns, and the errors it raises. No ORM object and
no Qt type crosses this boundary.
"""

from __future__ import annotations

from chatapp.store.archive import ARCHIVE_FORMAT, ARCHIVE_VERSION, read_archive
from chatapp.store.backup import list_backups, make_backup, maybe_daily_backup
from chatapp.store.errors import (
    ArchiveError,
    CorruptDatabaseError,
    DatabaseLockedError,
    DiskFullError,
    NewerDatabaseError,
    NotFoundError,
    ReadOnlyDatabaseError,
    Stopped,
    StoreError,
)
from chatapp.store.exports import escape_markdown, write_jsonl, write_markdown
from chatapp.store.generation import Candidate, GenerationInfo, ReplyTimings
from chatapp.store.message_text import MAX_MESSAGE_CHARS, storable_text
from chatapp.store.records import (
    DEFAULT_TITLE,
    ConversationRecord,
    FinetuneRunRecord,
    ImportSummary,
    MessageRecord,
    ModelVersionRecord,
    PresetRecord,
    SearchHit,
    TrainingPair,
)
from chatapp.store.repository import Store

__all__ = [
    "ARCHIVE_FORMAT",
    "ARCHIVE_VERSION",
    "DEFAULT_TITLE",
    "MAX_MESSAGE_CHARS",
    "ArchiveError",
    "Candidate",
    "ConversationRecord",
    "CorruptDatabaseError",
    "DatabaseLockedError",
    "DiskFullError",
    "FinetuneRunRecord",
    "GenerationInfo",
    "ImportSummary",
    "MessageRecord",
    "ModelVersionRecord",
    "NewerDatabaseError",
    "NotFoundError",
    "PresetRecord",
    "ReadOnlyDatabaseError",
    "ReplyTimings",
    "SearchHit",
    "Stopped",
    "Store",
    "StoreError",
    "TrainingPair",
    "escape_markdown",
    "list_backups",
    "make_backup",
    "maybe_daily_backup",
    "read_archive",
    "storable_text",
    "write_jsonl",
    "write_markdown",
]
