"""Errors raised by the conversation store.

Every failure of the database itself surfaces as a `StoreError` whose message can be shown to
the user as it is; wrong arguments (empty text, a rating of 7) raise `ValueError`.
"""

from __future__ import annotations


class StoreError(Exception):
    """The database could not do what was asked; the message is fit for the user."""


class NotFoundError(StoreError, LookupError):
    """No conversation, message, model version or run with that id."""


class DatabaseLockedError(StoreError):
    """Another program held the database longer than the busy timeout."""


class DiskFullError(StoreError):
    """The disk (or the database's size cap) is full; the write was rolled back."""


class ReadOnlyDatabaseError(StoreError):
    """The database was opened read-only, or its file cannot be written."""


class UpgradeNeededError(ReadOnlyDatabaseError):
    """Opened read-only, the database turned out to need a schema upgrade (a write)."""


class CorruptDatabaseError(StoreError):
    """The file is not a database, or fails SQLite's consistency check."""


class NewerDatabaseError(StoreError):
    """The database was made by a newer version of the app; it was left untouched."""


class ArchiveError(StoreError, ValueError):
    """An import archive is malformed; nothing was written."""


class Stopped(StoreError):
    """The caller asked a long read to stop (a fine-tune cancelled while it reads its data)."""
