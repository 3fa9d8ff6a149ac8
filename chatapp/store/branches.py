"""Re-choosing the visible path after a message: what `choose_alternative` shows next.

One read of the conversation's later messages, the walk down the branch in memory, then one
update to hide what was shown and one per 500 messages to show the branch: switching to a
10,000-deep branch takes a fraction of a second (a query and an update per position took 9-18
seconds, holding the write lock). The walk moves one position on at each step, so it ends.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from chatapp.store.models import Message

_CHUNK = 500  # ids per UPDATE (well under SQLite's limit on bound parameters)


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
    slots: dict[tuple[int, int | None], list[Row]] = defaultdict(list)
    for row in rows:
        slots[row.position, row.follows_id].append(row)

    def slot_of(m: Row | Message) -> int:  # as `messages.slot_of`, from the rows read
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
    query = update(Message).where(
        Message.conversation_id == conversation_id, Message.chosen, Message.position >= first
    )
    if last is not None:
        query = query.where(Message.position <= last)
    session.execute(query.values(chosen=False).execution_options(synchronize_session=False))
