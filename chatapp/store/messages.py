"""The message half of `Store`: turns, regenerated alternatives, ratings, corrections, paging.

A conversation is a sequence of positions 0, 1, 2, ...; each position holds one message, or
several when a bot reply was regenerated, exactly one of them `chosen`. The chosen messages in
position order are the visible path: what the window shows and what the model reads as context.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from chatapp.store.conversations import TITLE_CHARS, get_conversation, shorten
from chatapp.store.database import Database
from chatapp.store.errors import NotFoundError
from chatapp.store.models import Conversation, Message, utcnow
from chatapp.store.records import DEFAULT_TITLE, CorrectionRecord, MessageRecord, Role

_INT64 = range(-(2**63), 2**63)
MAX_MESSAGE_CHARS = 1_000_000  # longer texts are refused with a message, never cut silently


def message_record(message: Message, index: int = 0, count: int = 1) -> MessageRecord:
    return MessageRecord(
        id=message.id,
        uid=message.uid,
        conversation_id=message.conversation_id,
        position=message.position,
        role=message.role,
        text=message.text,
        created_at=message.created_at,
        parent_id=message.parent_id,
        chosen=message.chosen,
        rating=message.rating,
        corrected_text=message.corrected_text,
        stopped=message.stopped,
        model_version_id=message.model_version_id,
        decoding=message.decoding,
        seed=message.seed,
        timings=message.timings,
        nbest=message.nbest,
        alternative_index=index,
        alternative_count=count,
    )


def get_message(session: Session, message_id: int, role: Role | None = None) -> Message:
    message = session.get(Message, message_id) if message_id in _INT64 else None
    if message is None:
        raise NotFoundError(f"no message with id {message_id}")
    if role is not None and message.role != role:
        raise ValueError(f"message {message_id} is a {message.role} turn, not a {role} turn")
    return message


def _alternative_ids(
    session: Session, conversation_id: int, lo: int, hi: int
) -> dict[int, list[int]]:
    """Message ids at each position in [lo, hi], oldest first (the alternatives' order)."""
    rows = session.execute(
        select(Message.position, Message.id)
        .where(Message.conversation_id == conversation_id, Message.position.between(lo, hi))
        .order_by(Message.position, Message.id)
    )
    ids: dict[int, list[int]] = defaultdict(list)
    for position, message_id in rows:
        ids[position].append(message_id)
    return ids


def _records(session: Session, messages: Sequence[Message]) -> list[MessageRecord]:
    """Records for messages of one conversation, with their place among their alternatives."""
    if not messages:
        return []
    positions = [message.position for message in messages]
    ids = _alternative_ids(session, messages[0].conversation_id, min(positions), max(positions))
    return [message_record(m, ids[m.position].index(m.id), len(ids[m.position])) for m in messages]


def text_problem(text: str) -> str | None:
    """Why the store refuses `text` as a message or a correction, in words; None if it takes it.

    The one set of rules for every way in: the window, the terminal chat, imports.
    """
    if not text.strip():
        return "cannot be empty or only whitespace"
    if len(text) > MAX_MESSAGE_CHARS:
        return f"is too long ({len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,})"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # sqlite3 would raise a bare codec error mid-transaction; say what is wrong instead.
        return (
            "holds an unpaired surrogate character (U+D800–U+DFFF), which cannot be "
            "stored; replace it (with U+FFFD) first"
        )
    return None


def _require_text(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, not {type(text).__name__}")
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(f"{what} {problem}")


def storable_text(text: str) -> tuple[str, int]:
    """`text` with each unpaired UTF-16 surrogate replaced by U+FFFD, and how many were.

    A `str` can hold one (a broken clipboard, undecodable terminal bytes kept by
    `surrogateescape`), but SQLite keeps only valid UTF-8 and `add_user_turn` refuses it:
    replacing it keeps the rest of the message exactly as typed (NUL and controls included).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return fixed, fixed.count("\ufffd") - text.count("\ufffd")
    return text, 0


def _nbest_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One n-best candidate: its text and ranking score; a reranked one also keeps its two
    parts (log p(reply | context) and the MMI term, per token) and what scored the MMI term."""
    kept: dict[str, Any] = {"text": str(entry["text"]), "score": float(entry["score"])}
    for name in ("forward", "mmi"):
        if entry.get(name) is not None:
            kept[name] = float(entry[name])
    if entry.get("scorer") is not None:
        kept["scorer"] = str(entry["scorer"])
    return kept


def _scores_of(entry: Mapping[str, Any]) -> list[float]:
    return [entry[name] for name in ("score", "forward", "mmi") if name in entry]


def _generation_fields(
    *,
    model_version_id: int | None,
    decoding: Mapping[str, Any] | None,
    seed: int | None,
    timings: Mapping[str, Any] | None,
    nbest: Sequence[Mapping[str, Any]] | None,
    stopped: bool,
) -> dict[str, Any]:
    """The columns that record how a bot reply was made, checked and made JSON-ready."""
    if seed is not None and seed not in _INT64:
        raise ValueError(f"seed {seed} does not fit in 64 bits")
    if nbest is not None:
        nbest = [_nbest_entry(entry) for entry in nbest]
        if any(not math.isfinite(value) for entry in nbest for value in _scores_of(entry)):
            raise ValueError("n-best scores must be finite numbers")
    return {
        "model_version_id": model_version_id,
        "decoding": dict(decoding) if decoding is not None else None,
        "seed": seed,
        "timings": dict(timings) if timings is not None else None,
        "nbest": nbest,
        "stopped": stopped,
    }


def _append(session: Session, conversation: Conversation, **fields: Any) -> Message:
    last = session.scalar(
        select(func.max(Message.position)).where(Message.conversation_id == conversation.id)
    )
    now = utcnow()
    message = Message(
        uid=str(uuid.uuid4()),
        conversation_id=conversation.id,
        position=0 if last is None else last + 1,
        created_at=now,
        chosen=True,
        rating=0,
        **fields,
    )
    session.add(message)
    conversation.updated_at = now
    session.flush()
    return message


def _delete_after(session: Session, conversation_id: int, position: int) -> int:
    result = session.execute(
        delete(Message).where(
            Message.conversation_id == conversation_id, Message.position > position
        )
    )
    return result.rowcount


class MessagesMixin:
    _db: Database

    def add_user_turn(self, conversation_id: int, text: str) -> MessageRecord:
        """Append the user's turn, committed before any reply is generated."""
        _require_text(text, "a message")
        with self._db.write() as session:
            conversation = get_conversation(session, conversation_id)
            message = _append(session, conversation, role="user", text=text, stopped=False)
            if conversation.title == DEFAULT_TITLE:
                conversation.title = shorten(text, TITLE_CHARS)
            return message_record(message)

    def add_bot_reply(
        self,
        conversation_id: int,
        text: str,
        *,
        model_version_id: int | None = None,
        decoding: Mapping[str, Any] | None = None,
        seed: int | None = None,
        timings: Mapping[str, Any] | None = None,
        nbest: Sequence[Mapping[str, Any]] | None = None,
        stopped: bool = False,
    ) -> MessageRecord:
        """Append a finished (or stopped, possibly empty) bot reply."""
        fields = _generation_fields(
            model_version_id=model_version_id,
            decoding=decoding,
            seed=seed,
            timings=timings,
            nbest=nbest,
            stopped=stopped,
        )
        with self._db.write() as session:
            conversation = get_conversation(session, conversation_id)
            return message_record(_append(session, conversation, role="bot", text=text, **fields))

    def add_alternative(
        self,
        message_id: int,
        text: str,
        *,
        model_version_id: int | None = None,
        decoding: Mapping[str, Any] | None = None,
        seed: int | None = None,
        timings: Mapping[str, Any] | None = None,
        nbest: Sequence[Mapping[str, Any]] | None = None,
        stopped: bool = False,
    ) -> MessageRecord:
        """A regenerated reply for bot message `message_id`: same position, and now chosen.

        Later turns are kept; the window decides whether to offer regenerating only the last one.
        """
        fields = _generation_fields(
            model_version_id=model_version_id,
            decoding=decoding,
            seed=seed,
            timings=timings,
            nbest=nbest,
            stopped=stopped,
        )
        with self._db.write() as session:
            source = get_message(session, message_id, "bot")
            _unchoose(session, source)
            now = utcnow()
            message = Message(
                uid=str(uuid.uuid4()),
                conversation_id=source.conversation_id,
                position=source.position,
                role="bot",
                text=text,
                created_at=now,
                parent_id=source.id,
                chosen=True,
                rating=0,
                **fields,
            )
            session.add(message)
            get_conversation(session, source.conversation_id).updated_at = now
            session.flush()
            return _records(session, [message])[0]

    def choose_alternative(self, message_id: int) -> MessageRecord:
        """Show `message_id` instead of the other alternatives at its position."""
        with self._db.write() as session:
            message = get_message(session, message_id)
            _unchoose(session, message)
            message.chosen = True
            session.flush()
            return _records(session, [message])[0]

    def alternatives(self, message_id: int) -> list[MessageRecord]:
        """All messages at `message_id`'s position, oldest first (`alternative_index` order)."""
        with self._db.read() as session:
            message = get_message(session, message_id)
            siblings = session.scalars(
                select(Message)
                .where(
                    Message.conversation_id == message.conversation_id,
                    Message.position == message.position,
                )
                .order_by(Message.id)
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
            _require_text(text, "a correction")
        with self._db.write() as session:
            message = get_message(session, message_id, "bot")
            message.corrected_text = text
            session.flush()
            return _records(session, [message])[0]

    def corrections(self) -> list[CorrectionRecord]:
        """Every saved correction with the user turn it answers (the memory's entries)."""
        from chatapp.store.training_pairs import collect_corrections

        with self._db.read() as session:
            return collect_corrections(session)

    def edit_user_turn(self, message_id: int, new_text: str) -> MessageRecord:
        """Change a user turn's text and delete every message after it (the GUI asks first)."""
        _require_text(new_text, "a message")
        with self._db.write() as session:
            message = get_message(session, message_id, "user")
            _delete_after(session, message.conversation_id, message.position)
            message.text = new_text
            get_conversation(session, message.conversation_id).updated_at = utcnow()
            session.flush()
            return message_record(message)

    def delete_messages_after(self, conversation_id: int, position: int) -> int:
        """Delete every message (all alternatives) after `position`; how many were deleted."""
        with self._db.write() as session:
            conversation = get_conversation(session, conversation_id)
            deleted = _delete_after(session, conversation_id, position)
            if deleted:
                conversation.updated_at = utcnow()
            return deleted

    def message_count(self, conversation_id: int) -> int:
        """The length of the conversation's visible path."""
        with self._db.read() as session:
            get_conversation(session, conversation_id)
            return session.scalar(
                select(func.count()).where(
                    Message.conversation_id == conversation_id, Message.chosen
                )
            )

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
            count = session.scalar(
                select(func.count()).where(
                    Message.conversation_id == conversation_id, Message.chosen
                )
            )
            return _page(session, conversation_id, max(0, count - n), n)

    def history(self, conversation_id: int, upto_position: int | None = None) -> list[str]:
        """The texts of the visible path as shown (the model's context), oldest first.

        With `upto_position`, only the turns before that position: the context for
        regenerating the reply at `upto_position`.
        """
        query = select(Message.text).where(
            Message.conversation_id == conversation_id, Message.chosen
        )
        if upto_position is not None:
            query = query.where(Message.position < upto_position)
        with self._db.read() as session:
            get_conversation(session, conversation_id)
            return list(session.scalars(query.order_by(Message.position)))


def _unchoose(session: Session, message: Message) -> None:
    # Unset first, in its own statement: the unique index on chosen positions would reject
    # two chosen messages even for the instant between two updates in one flush.
    session.execute(
        update(Message)
        .where(
            Message.conversation_id == message.conversation_id,
            Message.position == message.position,
            Message.chosen,
        )
        .values(chosen=False)
    )


def _page(session: Session, conversation_id: int, offset: int, limit: int) -> list[MessageRecord]:
    get_conversation(session, conversation_id)
    messages = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.chosen)
        .order_by(Message.position)
        .offset(offset)
        .limit(limit)
    ).all()
    return _records(session, messages)
