"""The ORM tables of the conversation store (SQLAlchemy 2.0 typed declarative).

These classes stay inside `chatapp.store`; callers get `records` instead. The schema itself is
made by the Alembic revisions in `migrations/versions/`, which must agree with this file (a test
compares them). The FTS5 index over `messages.text` lives only in the migrations: the ORM never
touches it, triggers keep it in sync.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy import text as sql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


INT64 = range(-(2**63), 2**63)  # what an SQLite INTEGER column holds
R = TypeVar("R")


def record_of(record_type: type[R], row: object, **computed: Any) -> R:
    """The frozen record of an ORM row: each field read from the row's attribute of the same
    name, except the `computed` ones (the records mirror the tables field for field)."""
    names = [f.name for f in dataclasses.fields(record_type) if f.name not in computed]
    return record_type(**{name: getattr(row, name) for name in names}, **computed)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC text (SQLite has no time zones), read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware one")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


# Python None must be SQL NULL, not the JSON text 'null', so "IS NULL" works in queries.
JSONColumn = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index(None, "archived", "pinned", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pinned: Mapped[bool] = mapped_column(Boolean, server_default=sql("0"))
    archived: Mapped[bool] = mapped_column(Boolean, server_default=sql("0"))


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        # At most one active version: a partial unique index, so the database enforces it.
        Index("uq_model_versions_one_active", "active", unique=True, sqlite_where=sql("active")),
        # One row per model folder: registering a folder is insert-or-get (revision 0003).
        Index("uq_model_versions_directory", "directory", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    directory: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn)
    active: Mapped[bool] = mapped_column(Boolean, server_default=sql("0"))
    is_base: Mapped[bool] = mapped_column(Boolean, server_default=sql("0"))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'bot')", name="role"),
        CheckConstraint("rating IN (-1, 0, 1)", name="rating"),
        CheckConstraint("position >= 0", name="position"),
        # The visible path: chosen messages of a conversation in position order.
        Index(None, "conversation_id", "chosen", "position"),
        # All alternatives at a position (and the next free position).
        Index(None, "conversation_id", "position"),
        # Exactly one chosen message per position: the "at most" half is enforced here.
        Index(
            "uq_messages_chosen_position",
            "conversation_id",
            "position",
            unique=True,
            sqlite_where=sql("chosen"),
        ),
        # Deleting a message looks up its regenerated children through this foreign key;
        # without an index every deleted row would scan the whole table.
        Index(None, "parent_id"),
        # A branch's continuation: the messages that follow one slot (see `messages.py`).
        Index(None, "follows_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(4))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    chosen: Mapped[bool] = mapped_column(Boolean, server_default=sql("1"))
    rating: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    corrected_text: Mapped[str | None] = mapped_column(Text)
    # When the correction was made: the latest teaching of a prompt wins (revision 0005).
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped: Mapped[bool] = mapped_column(Boolean, server_default=sql("0"))
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    # A reply imported from another database whose model version is not in this one: the
    # version's name and what the archive said of it (made when, fine-tuned from what, on
    # which data), kept as text so that Details… and the next export still name it (0006).
    imported_version: Mapped[str | None] = mapped_column(Text)
    imported_provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn)
    decoding: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn)
    seed: Mapped[int | None] = mapped_column(Integer)
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn)
    nbest: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONColumn)
    # The slot this message continues: the user turn before it (each edit of a user turn is a
    # branch of its own), or the first of the bot alternatives before it (regenerated replies
    # share what follows). NULL at position 0. A plain integer, not a foreign key, so that
    # revision 0004 can be undone on SQLite; a slot's messages go with their conversation.
    follows_id: Mapped[int | None] = mapped_column(Integer)


class FinetuneRun(Base):
    __tablename__ = "finetune_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed', 'cancelled')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10))
    examples: Mapped[dict[str, int] | None] = mapped_column(JSONColumn)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONColumn)
    log: Mapped[str] = mapped_column(Text, server_default=sql("''"))
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )


class Preset(Base):
    __tablename__ = "presets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONColumn)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
