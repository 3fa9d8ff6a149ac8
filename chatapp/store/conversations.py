"""The conversation half of `Store`: create, rename, pin, archive, delete, list.

A mixin so that `Store` stays one flat API while each file keeps to one job; every method is one
unit of work on `self._db`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, Select, delete, func, select
from sqlalchemy.orm import Session

from chatapp.store.database import Database
from chatapp.store.errors import NotFoundError
from chatapp.store.models import Conversation, Message, utcnow
from chatapp.store.records import DEFAULT_TITLE, ConversationRecord

TITLE_CHARS = 60
PREVIEW_CHARS = 100


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut on a word boundary to at most `limit` characters (with "…")."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    # Cut at the last space unless that loses most of it (one long word, or a script
    # without spaces such as Chinese).
    if " " in cut and cut.rindex(" ") >= limit // 2:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def _is_row_id(value: object) -> bool:
    """An id SQLite can compare: one beyond 64 bits matches nothing (sqlite3 would raise)."""
    return isinstance(value, int) and -(2**63) <= value < 2**63


def get_conversation(session: Session, conversation_id: int) -> Conversation:
    in_range = _is_row_id(conversation_id)
    conversation = session.get(Conversation, conversation_id) if in_range else None
    if conversation is None:
        raise NotFoundError(f"no conversation with id {conversation_id}")
    return conversation


def _listing() -> Select[Any]:
    path = (Message.conversation_id == Conversation.id) & Message.chosen
    count = select(func.count()).where(path).correlate(Conversation).scalar_subquery()
    # Only the start of the last message: substr keeps a 1 MB message from being copied out.
    preview = (
        select(func.substr(Message.text, 1, PREVIEW_CHARS * 2))
        .where(path)
        .order_by(Message.position.desc())
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )
    # Columns, not ORM objects: the sidebar lists thousands and needs no identity map.
    return select(
        Conversation.id,
        Conversation.uid,
        Conversation.title,
        Conversation.created_at,
        Conversation.updated_at,
        Conversation.pinned,
        Conversation.archived,
        count.label("message_count"),
        preview.label("preview"),
    )


def _conversation_record(row: Row[Any]) -> ConversationRecord:
    # The listing's columns are in the record's field order; by position is the fast way.
    *fields, preview = row
    return ConversationRecord(*fields, preview=shorten(preview or "", PREVIEW_CHARS))


def conversation_record(session: Session, conversation_id: int) -> ConversationRecord:
    if not _is_row_id(conversation_id):
        raise NotFoundError(f"no conversation with id {conversation_id}")
    row = session.execute(_listing().where(Conversation.id == conversation_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no conversation with id {conversation_id}")
    return _conversation_record(row)


class ConversationsMixin:
    _db: Database

    def create_conversation(self, title: str | None = None) -> ConversationRecord:
        """A new, empty conversation; it takes its title from its first turn if none is given."""
        now = utcnow()
        conversation = Conversation(
            uid=str(uuid.uuid4()),
            title=_clean_title(title) if title is not None else DEFAULT_TITLE,
            created_at=now,
            updated_at=now,
            pinned=False,
            archived=False,
        )
        with self._db.write() as session:
            session.add(conversation)
            session.flush()
            return conversation_record(session, conversation.id)

    def get_conversation(self, conversation_id: int) -> ConversationRecord:
        with self._db.read() as session:
            return conversation_record(session, conversation_id)

    def find_conversation(self, uid: str) -> ConversationRecord | None:
        """The conversation with this uid (as exported), or None."""
        with self._db.read() as session:
            conversation_id = session.scalar(select(Conversation.id).where(Conversation.uid == uid))
            return (
                None if conversation_id is None else conversation_record(session, conversation_id)
            )

    def rename_conversation(self, conversation_id: int, title: str) -> ConversationRecord:
        with self._db.write() as session:
            get_conversation(session, conversation_id).title = _clean_title(title)
            session.flush()
            return conversation_record(session, conversation_id)

    def pin_conversation(self, conversation_id: int, pinned: bool = True) -> ConversationRecord:
        with self._db.write() as session:
            get_conversation(session, conversation_id).pinned = pinned
            session.flush()
            return conversation_record(session, conversation_id)

    def archive_conversation(
        self, conversation_id: int, archived: bool = True
    ) -> ConversationRecord:
        with self._db.write() as session:
            get_conversation(session, conversation_id).archived = archived
            session.flush()
            return conversation_record(session, conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete the conversation and all its messages (the search index follows)."""
        with self._db.write() as session:
            result = session.execute(delete(Conversation).where(Conversation.id == conversation_id))
            if result.rowcount == 0:
                raise NotFoundError(f"no conversation with id {conversation_id}")

    def list_conversations(self, include_archived: bool = False) -> list[ConversationRecord]:
        """Pinned first, then by last activity, newest first."""
        query = _listing().order_by(
            Conversation.pinned.desc(), Conversation.updated_at.desc(), Conversation.id.desc()
        )
        if not include_archived:
            query = query.where(Conversation.archived.is_(False))
        with self._db.read() as session:
            return [_conversation_record(row) for row in session.execute(query)]


def _clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValueError("a conversation title cannot be empty")
    return cleaned
