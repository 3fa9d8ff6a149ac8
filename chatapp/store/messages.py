"""The message half of `Store`: turns, regenerated alternatives, ratings, corrections, paging.

A conversation is a sequence of positions 0, 1, 2, ...; each position holds one message, or
several when a bot reply was regenerated, exactly one of them `chosen`. The chosen messages in
position order are the visible path: what the window shows and what the model reads as context.

Branches: each message records the slot it follows (`follows_id`). A user turn is a slot of its
own, so editing one adds a sibling turn whose continuation is separate from the old one's; the
alternatives of a bot reply share one slot (the first of them), so regenerating a reply keeps
what followed it. Alternatives are the messages at one position that follow the same slot;
choosing one re-chooses the path after it, branch by branch.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatapp.store.branches import (
    alternative_ids,
    in_slot,
    last_chosen,
    on_path,
    rechoose_after,
    slot_of,
    unchoose,
    unchoose_from,
)
from chatapp.store.conversations import TITLE_CHARS, get_conversation, shorten
from chatapp.store.database import Database
from chatapp.store.errors import NotFoundError
from chatapp.store.generation import GenerationInfo, generation_columns
from chatapp.store.message_text import require_text
from chatapp.store.models import INT64, Conversation, Message, record_of, utcnow
from chatapp.store.records import DEFAULT_TITLE, CorrectionRecord, MessageRecord, Role
from engine.pairs import PairKind


def message_record(message: Message, index: int = 0, count: int = 1) -> MessageRecord:
    return record_of(MessageRecord, message, alternative_index=index, alternative_count=count)


def get_message(session: Session, message_id: int, role: Role | None = None) -> Message:
    message = session.get(Message, message_id) if message_id in INT64 else None
    if message is None:
        raise NotFoundError(f"no message with id {message_id}")
    if role is not None and message.role != role:
        raise ValueError(f"message {message_id} is a {message.role} turn, not a {role} turn")
    return message


def _records(session: Session, messages: Sequence[Message]) -> list[MessageRecord]:
    """Records for messages of one conversation, with their place among their alternatives."""
    if not messages:
        return []
    positions = [message.position for message in messages]
    ids = alternative_ids(session, messages[0].conversation_id, min(positions), max(positions))
    records = []
    for m in messages:
        siblings = ids[m.position, m.follows_id]
        records.append(message_record(m, siblings.index(m.id), len(siblings)))
    return records


def _new_message(
    session: Session,
    conversation: Conversation,
    position: int,
    follows_id: int | None,
    **fields: Any,
) -> Message:
    """A chosen, unrated message of `conversation`, stored now; the conversation is touched."""
    now = utcnow()
    message = Message(
        uid=str(uuid.uuid4()),
        conversation_id=conversation.id,
        position=position,
        follows_id=follows_id,
        created_at=now,
        chosen=True,
        rating=0,
        **fields,
    )
    session.add(message)
    conversation.updated_at = now
    session.flush()
    return message


def _append(session: Session, conversation: Conversation, **fields: Any) -> Message:
    """A new message at the end of the visible path (other branches may run longer)."""
    last = last_chosen(session, conversation.id)
    if last is None:
        return _new_message(session, conversation, 0, None, **fields)
    return _new_message(session, conversation, last.position + 1, slot_of(session, last), **fields)


def _add_sibling(session: Session, source: Message, text: str, **fields: Any) -> Message:
    """A chosen alternative to `source` (same place, same branch), made from it."""
    conversation = get_conversation(session, source.conversation_id)
    return _new_message(
        session, conversation, source.position, source.follows_id,
        role=source.role, text=text, parent_id=source.id, **fields,
    )  # fmt: skip


class MessagesMixin:
    _db: Database

    def add_user_turn(self, conversation_id: int, text: str) -> MessageRecord:
        """Append the user's turn, committed before any reply is generated."""
        require_text(text, "a message")
        with self._db.write() as session:
            conversation = get_conversation(session, conversation_id)
            message = _append(session, conversation, role="user", text=text, stopped=False)
            if conversation.title == DEFAULT_TITLE:
                conversation.title = shorten(text, TITLE_CHARS)
            return message_record(message)

    def add_bot_reply(
        self, conversation_id: int, text: str, info: GenerationInfo | None = None
    ) -> MessageRecord:
        """Append a finished (or stopped) bot reply, made as `info` says; never a blank one
        (nothing to read, and it would be a hole in the model's context)."""
        require_text(text, "a reply")
        fields = generation_columns(info)
        with self._db.write() as session:
            conversation = get_conversation(session, conversation_id)
            return message_record(_append(session, conversation, role="bot", text=text, **fields))

    def add_alternative(
        self, message_id: int, text: str, info: GenerationInfo | None = None
    ) -> MessageRecord:
        """A regenerated reply for bot message `message_id`: same position, and now chosen.

        Later turns are kept; the window decides whether to offer regenerating only the last one.
        """
        require_text(text, "a reply")
        fields = generation_columns(info)
        with self._db.write() as session:
            source = get_message(session, message_id, "bot")
            unchoose(session, source)
            return _records(session, [_add_sibling(session, source, text, **fields)])[0]

    def choose_alternative(self, message_id: int) -> MessageRecord:
        """Show `message_id` instead of its alternatives, and the branch that follows it."""
        with self._db.write() as session:
            message = get_message(session, message_id)
            unchoose(session, message)
            message.chosen = True
            session.flush()
            rechoose_after(session, message)
            return _records(session, [message])[0]

    def alternatives(self, message_id: int) -> list[MessageRecord]:
        """All messages at `message_id`'s position, oldest first (`alternative_index` order)."""
        with self._db.read() as session:
            message = get_message(session, message_id)
            siblings = session.scalars(
                select(Message).where(*in_slot(message)).order_by(Message.id)
            ).all()
            return [message_record(m, i, len(siblings)) for i, m in enumerate(siblings)]

    def get_message(self, message_id: int) -> MessageRecord:
        with self._db.read() as session:
            return _records(session, [get_message(session, message_id)])[0]

    def rate(self, message_id: int, rating: int) -> MessageRecord:
        """Rate a bot reply: -1 (bad), 0 (unrated) or +1 (good)."""
        if isinstance(rating, bool) or rating not in (-1, 0, 1):
            raise ValueError(f"a rating is -1, 0 or 1, not {rating!r}")
        with self._db.write() as session:
            message = get_message(session, message_id, "bot")
            message.rating = rating
            session.flush()
            return _records(session, [message])[0]

    def correct(self, message_id: int, text: str | None) -> MessageRecord:
        """Record what bot reply `message_id` should have said (None removes the correction)."""
        if text is not None:
            require_text(text, "a correction")
        with self._db.write() as session:
            message = get_message(session, message_id, "bot")
            message.corrected_text = text
            message.corrected_at = utcnow() if text is not None else None
            session.flush()
            return _records(session, [message])[0]

    def corrections(self, *, liked: bool = False) -> list[CorrectionRecord]:
        """Every saved correction with the user turn it answers (the memory's entries); with
        `liked`, then every reply rated up and not corrected, as a `PairKind.LIKED` record."""
        from chatapp.store.training_pairs import collect_corrections

        kinds = (PairKind.CORRECTED, PairKind.LIKED) if liked else (PairKind.CORRECTED,)
        with self._db.read() as session:
            return [record for kind in kinds for record in collect_corrections(session, kind)]

    def edit_user_turn(self, message_id: int, new_text: str) -> MessageRecord:
        """A new branch: `new_text` beside user turn `message_id`, chosen, with nothing after it.

        The old turn and everything that followed it stay, one alternative away.
        """
        require_text(new_text, "a message")
        with self._db.write() as session:
            source = get_message(session, message_id, "user")
            unchoose_from(session, source.conversation_id, source.position)
            message = _add_sibling(session, source, new_text, stopped=False)
            return _records(session, [message])[0]

    def message_count(self, conversation_id: int) -> int:
        """The length of the conversation's visible path."""
        with self._db.read() as session:
            get_conversation(session, conversation_id)
            return session.scalar(select(func.count()).where(*on_path(conversation_id)))

    def page_messages(self, conversation_id: int, offset: int, limit: int) -> list[MessageRecord]:
        """`limit` messages of the visible path starting at index `offset`."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit cannot be negative")
        with self._db.read() as session:
            return _page(session, conversation_id, offset, limit)

    def last_messages(self, conversation_id: int, n: int) -> list[MessageRecord]:
        """The last `n` messages of the visible path, oldest first."""
        if n < 0:
            raise ValueError("n cannot be negative")
        with self._db.read() as session:
            count = session.scalar(select(func.count()).where(*on_path(conversation_id)))
            return _page(session, conversation_id, max(0, count - n), n)

    def history(self, conversation_id: int, upto_position: int | None = None) -> list[str]:
        """The texts of the visible path as shown (the model's context), oldest first.

        With `upto_position`, only the turns before that position: the context for
        regenerating the reply at `upto_position`. A blank reply an earlier version stored
        is left out: there is nothing in it to read.
        """
        query = select(Message.text).where(*on_path(conversation_id))
        if upto_position is not None:
            query = query.where(Message.position < upto_position)
        with self._db.read() as session:
            get_conversation(session, conversation_id)
            return [
                text for text in session.scalars(query.order_by(Message.position)) if text.strip()
            ]


def _page(session: Session, conversation_id: int, offset: int, limit: int) -> list[MessageRecord]:
    get_conversation(session, conversation_id)
    messages = session.scalars(
        select(Message)
        .where(*on_path(conversation_id))
        .order_by(Message.position)
        .offset(offset)
        .limit(limit)
    ).all()
    return _records(session, messages)
