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

import math
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from chatapp.store.branches import rechoose_after
from chatapp.store.conversations import TITLE_CHARS, get_conversation, shorten
from chatapp.store.database import Database
from chatapp.store.errors import NotFoundError
from chatapp.store.generation import GenerationInfo
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
        imported_version=message.imported_version,
        imported_provenance=message.imported_provenance,
    )


def get_message(session: Session, message_id: int, role: Role | None = None) -> Message:
    message = session.get(Message, message_id) if message_id in _INT64 else None
    if message is None:
        raise NotFoundError(f"no message with id {message_id}")
    if role is not None and message.role != role:
        raise ValueError(f"message {message_id} is a {message.role} turn, not a {role} turn")
    return message


Slot = tuple[int, int | None]  # (position, follows_id): the alternatives of one branch


def _alternative_ids(
    session: Session, conversation_id: int, lo: int, hi: int
) -> dict[Slot, list[int]]:
    """Message ids of each slot at positions in [lo, hi], oldest first (the alternatives' order)."""
    rows = session.execute(
        select(Message.position, Message.follows_id, Message.id)
        .where(Message.conversation_id == conversation_id, Message.position.between(lo, hi))
        .order_by(Message.position, Message.id)
    )
    ids: dict[Slot, list[int]] = defaultdict(list)
    for position, follows_id, message_id in rows:
        ids[position, follows_id].append(message_id)
    return ids


def _records(session: Session, messages: Sequence[Message]) -> list[MessageRecord]:
    """Records for messages of one conversation, with their place among their alternatives."""
    if not messages:
        return []
    positions = [message.position for message in messages]
    ids = _alternative_ids(session, messages[0].conversation_id, min(positions), max(positions))
    records = []
    for m in messages:
        siblings = ids[m.position, m.follows_id]
        records.append(message_record(m, siblings.index(m.id), len(siblings)))
    return records


def slot_of(session: Session, message: Message) -> int:
    """What a message after `message` follows: a user turn itself (each edit is a branch), or
    the first of a bot reply's alternatives (regenerating a reply keeps what followed it)."""
    if message.role == "user":
        return message.id
    return session.scalar(
        select(func.min(Message.id)).where(
            Message.conversation_id == message.conversation_id,
            Message.position == message.position,
            Message.follows_id == message.follows_id,
        )
    )


def _last_chosen(session: Session, conversation_id: int) -> Message | None:
    return session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.chosen)
        .order_by(Message.position.desc())
        .limit(1)
    ).first()


def follow_the_line(session: Session, conversation_id: int) -> None:
    """Link a conversation of one line of turns (an older archive): each message follows the
    slot of the chosen message before it."""
    chosen = {
        m.position: m
        for m in session.scalars(
            select(Message).where(Message.conversation_id == conversation_id, Message.chosen)
        )
    }
    slots = {position: slot_of(session, m) for position, m in chosen.items()}
    for message in session.scalars(
        select(Message).where(Message.conversation_id == conversation_id, Message.position > 0)
    ):
        message.follows_id = slots.get(message.position - 1)
    session.flush()


def _unchoose_from(session: Session, conversation_id: int, position: int) -> None:
    session.execute(
        update(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.position >= position,
            Message.chosen,
        )
        .values(chosen=False)
    )


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


def _generation_fields(info: GenerationInfo | None) -> dict[str, Any]:
    """The columns that record how a bot reply was made, checked and made JSON-ready."""
    info = info or GenerationInfo()
    if info.seed is not None and info.seed not in _INT64:
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


def _append(session: Session, conversation: Conversation, **fields: Any) -> Message:
    """A new message at the end of the visible path (other branches may run longer)."""
    last = _last_chosen(session, conversation.id)
    now = utcnow()
    message = Message(
        uid=str(uuid.uuid4()),
        conversation_id=conversation.id,
        position=0 if last is None else last.position + 1,
        follows_id=None if last is None else slot_of(session, last),
        created_at=now,
        chosen=True,
        rating=0,
        **fields,
    )
    session.add(message)
    conversation.updated_at = now
    session.flush()
    return message


def _add_sibling(session: Session, source: Message, text: str, **fields: Any) -> Message:
    """A chosen alternative to `source` (same place, same branch), made from it."""
    now = utcnow()
    message = Message(
        uid=str(uuid.uuid4()),
        conversation_id=source.conversation_id,
        position=source.position,
        follows_id=source.follows_id,
        role=source.role,
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
        self, conversation_id: int, text: str, info: GenerationInfo | None = None
    ) -> MessageRecord:
        """Append a finished (or stopped) bot reply, made as `info` says; never a blank one
        (nothing to read, and it would be a hole in the model's context)."""
        _require_text(text, "a reply")
        fields = _generation_fields(info)
        with self._db.write() as session:
            conversation = get_conversation(session, conversation_id)
            return message_record(_append(session, conversation, role="bot", text=text, **fields))

    def add_alternative(
        self, message_id: int, text: str, info: GenerationInfo | None = None
    ) -> MessageRecord:
        """A regenerated reply for bot message `message_id`: same position, and now chosen.

        Later turns are kept; the window decides whether to offer regenerating only the last one.
        """
        _require_text(text, "a reply")
        fields = _generation_fields(info)
        with self._db.write() as session:
            source = get_message(session, message_id, "bot")
            _unchoose(session, source)
            return _records(session, [_add_sibling(session, source, text, **fields)])[0]

    def choose_alternative(self, message_id: int) -> MessageRecord:
        """Show `message_id` instead of its alternatives, and the branch that follows it."""
        with self._db.write() as session:
            message = get_message(session, message_id)
            _unchoose(session, message)
            message.chosen = True
            session.flush()
            rechoose_after(session, message)
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
                    Message.follows_id == message.follows_id,
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
            message.corrected_at = utcnow() if text is not None else None
            session.flush()
            return _records(session, [message])[0]

    def corrections(self) -> list[CorrectionRecord]:
        """Every saved correction with the user turn it answers (the memory's entries)."""
        from chatapp.store.training_pairs import collect_corrections

        with self._db.read() as session:
            return collect_corrections(session)

    def edit_user_turn(self, message_id: int, new_text: str) -> MessageRecord:
        """A new branch: `new_text` beside user turn `message_id`, chosen, with nothing after it.

        The old turn and everything that followed it stay, one alternative away.
        """
        _require_text(new_text, "a message")
        with self._db.write() as session:
            source = get_message(session, message_id, "user")
            _unchoose_from(session, source.conversation_id, source.position)
            message = _add_sibling(session, source, new_text, stopped=False)
            return _records(session, [message])[0]

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
        regenerating the reply at `upto_position`. A blank reply an earlier version stored
        is left out: there is nothing in it to read.
        """
        query = select(Message.text).where(
            Message.conversation_id == conversation_id, Message.chosen
        )
        if upto_position is not None:
            query = query.where(Message.position < upto_position)
        with self._db.read() as session:
            get_conversation(session, conversation_id)
            return [
                text for text in session.scalars(query.order_by(Message.position)) if text.strip()
            ]


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
