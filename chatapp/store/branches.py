"""Re-choosing the visible path after a message: what `choose_alternative` shows next.

One read of the conversation's later messages, the walk down the branch in memory, then one
update to hide what was shown and one per 500 messages to show the branch: switching to a
10,000-deep branch takes a fraction of a second (a query and an update per position took 9-18
seconds, holding the write lock). The walk moves one position on at each step, so it ends.

Here too the slots a message follows (`slot_of`) and the filters every query of branches shares:
the visible path of a conversation (`on_path`) and the alternatives of one slot (`in_slot`).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, Row, func, select, update
from sqlalchemy.orm import Session

from chatapp.store.models import Message

_CHUNK = 500  # ids per UPDATE (well under SQLite's limit on bound parameters)

Slot = tuple[int, int | None]  # (position, follows_id): the alternatives of one branch


def on_path(conversation_id: int) -> tuple[ColumnElement[bool], ...]:
    """The filter for the messages of a conversation's visible path (the chosen ones)."""
    return Message.conversation_id == conversation_id, Message.chosen


def in_slot(message: Message) -> tuple[ColumnElement[bool], ...]:
    """The filter for `message` and its alternatives: same place, same branch."""
    return (
        Message.conversation_id == message.conversation_id,
        Message.position == message.position,
        Message.follows_id == message.follows_id,
    )


def alternative_ids(
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


def slot_of(session: Session, message: Message) -> int:
    """What a message after `message` follows: a user turn itself (each edit is a branch), or
    the first of a bot reply's alternatives (regenerating a reply keeps what followed it)."""
    if message.role == "user":
        return message.id
    return session.scalar(select(func.min(Message.id)).where(*in_slot(message)))


def last_chosen(session: Session, conversation_id: int) -> Message | None:
    return session.scalars(
        select(Message).where(*on_path(conversation_id)).order_by(Message.position.desc()).limit(1)
    ).first()


def follow_the_line(session: Session, conversation_id: int) -> None:
    """Link a conversation of one line of turns (an older archive): each message follows the
    slot of the chosen message before it."""
    chosen = {
        m.position: m for m in session.scalars(select(Message).where(*on_path(conversation_id)))
    }
    slots = {position: slot_of(session, m) for position, m in chosen.items()}
    for message in session.scalars(
        select(Message).where(Message.conversation_id == conversation_id, Message.position > 0)
    ):
        message.follows_id = slots.get(message.position - 1)
    session.flush()


def unchoose(session: Session, message: Message) -> None:
    """Take `message`'s position off the path, before another message there is chosen."""
    # Unset first, in its own statement: the unique index on chosen positions would reject
    # two chosen messages even for the instant between two updates in one flush. (Unlike
    # `_hide`, the session's objects follow: the caller may choose one of them again.)
    session.execute(
        update(Message)
        .where(*on_path(message.conversation_id), Message.position == message.position)
        .values(chosen=False)
    )


def unchoose_from(session: Session, conversation_id: int, position: int) -> None:
    """Take positions `position` and after off the path (an edited turn starts a branch)."""
    session.execute(
        update(Message)
        .where(*on_path(conversation_id), Message.position >= position)
        .values(chosen=False)
    )


def rechoose_after(session: Session, message: Message) -> None:
    """Make the visible path after `message` the branch that follows it.

    Where the message already chosen next is in that branch (switching between regenerated
    replies keeps what followed them), nothing after it changes; otherwise the branch's newest
    alternative is shown, and so on. Where the branch ends, so does the path.
    """
    rows = session.execute(
        select(Message.id, Message.position, Message.follows_id, Message.role, Message.chosen)
        .where(
            Message.conversation_id == message.conversation_id,
            Message.position >= message.position,
        )
        .order_by(Message.id)
    ).all()
    slots: dict[Slot, list[Row]] = defaultdict(list)
    for row in rows:
        slots[row.position, row.follows_id].append(row)

    def slot_of(m: Row | Message) -> int:  # as the module's `slot_of`, from the rows read
        return m.id if m.role == "user" else slots[m.position, m.follows_id][0].id

    shown: list[int] = []
    previous: Row | Message = message
    position = message.position + 1
    while candidates := slots.get((position, slot_of(previous))):
        pick = next((row for row in candidates if row.chosen), candidates[-1])
        if pick.chosen:
            break  # the path was whole before, so from here on it still is
        shown.append(pick.id)
        previous, position = pick, position + 1
    else:
        _hide(session, message.conversation_id, message.position + 1 + len(shown), None)
    if shown:
        # Hide first, in its own statement: the unique index on chosen positions would reject
        # two chosen messages at one position even for an instant.
        _hide(session, message.conversation_id, message.position + 1, position - 1)
        for start in range(0, len(shown), _CHUNK):
            session.execute(
                update(Message)
                .where(Message.id.in_(shown[start : start + _CHUNK]))
                .values(chosen=True)
                .execution_options(synchronize_session=False)
            )
    session.expire_all()  # the updates went around the session's objects


def _hide(session: Session, conversation_id: int, first: int, last: int | None) -> None:
    """Unchoose the chosen messages at positions `first`..`last` (to the end for None)."""
    query = update(Message).where(*on_path(conversation_id), Message.position >= first)
    if last is not None:
        query = query.where(Message.position <= last)
    session.execute(query.values(chosen=False).execution_options(synchronize_session=False))
