"""Training pairs for fine-tuning, read from the user's saved conversations.

A pair is (context, response): the context is the visible path before the target's position,
as shown; the response is, by kind:
- "corrected": a bot reply's correction (it beats any rating of that reply);
- "liked": a bot reply rated +1 that has no correction;
- "user": the user's own turn (opt-in: it teaches the model to talk like the user).
Any alternative can give a pair, chosen or not. Its context is its own branch: the turns it
follows (`follows_id`), which off the visible path (an edited turn's other branch) differ from
what the window shows.
Pairs with an empty context (a conversation's opening turn) are skipped: there is nothing to
answer.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Collection
from operator import attrgetter

from sqlalchemy import ColumnElement, Row, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from chatapp.store.errors import Stopped
from chatapp.store.models import Message
from chatapp.store.records import CorrectionRecord, TrainingPair
from engine.data import normalise
from engine.pairs import PAIR_KINDS, PairKind, check_kinds

# Which messages give a pair of each kind; `_kind_of` is the same rule for one row.
_CONDITIONS: dict[PairKind, ColumnElement[bool]] = {
    PairKind.CORRECTED: and_(Message.role == "bot", Message.corrected_text.is_not(None)),
    PairKind.LIKED: and_(
        Message.role == "bot", Message.corrected_text.is_(None), Message.rating == 1
    ),
    PairKind.USER: and_(Message.role == "user", Message.chosen),
}


def _kind_of(row: Row, kinds: tuple[PairKind, ...]) -> tuple[PairKind, str] | None:
    """The kind and response a message gives, or None."""
    if row.role == "bot":
        if row.corrected_text is not None:
            corrected = PairKind.CORRECTED
            return (corrected, row.corrected_text) if corrected in kinds else None
        if row.rating == 1 and PairKind.LIKED in kinds:
            return PairKind.LIKED, row.text
    elif row.chosen and PairKind.USER in kinds:
        return PairKind.USER, row.text
    return None


class _Contexts:
    """Each message's context as a chain: the message shown before it, and that one's own.

    A context is named by an id: two ids are equal when their contexts are, turn by turn once
    normalised, across every conversation read at once. Telling pairs apart then costs one
    lookup per message, not a tuple of the whole context per pair (which grew with the square
    of a chat's length: 49 s and 2.9 GB for 10,000 messages).
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[int, str], int] = {}  # (id of the context before, turn) -> id
        self.before: dict[int, Row | None] = {}  # message id -> the message shown before it
        self._ending: dict[int, int | None] = {}  # message id -> id of the context ending there

    def read(self, rows: list[Row]) -> None:
        """Learn what comes before each message of one conversation (rows in position order).

        On the visible path that is the chosen message before it; off it, the shown
        alternative of the slot it follows (the chosen one, else the newest, as the window
        would show that branch)."""
        path = [row for row in rows if row.chosen]
        path_positions = [row.position for row in path]
        on_path = {(row.position, row.follows_id) for row in path}
        by_id = {row.id: row for row in rows}
        shown: dict[tuple[int, int | None], Row] = {}
        for row in rows:  # in id order within a slot: the chosen one, else the newest, stays
            slot = (row.position, row.follows_id)
            if row.chosen or not shown.get(slot, row).chosen:
                shown[slot] = row
        for row in rows:
            if (row.position, row.follows_id) in on_path:
                end = bisect.bisect_left(path_positions, row.position)
                self.before[row.id] = path[end - 1] if end else None
            else:
                followed = by_id.get(row.follows_id)  # type: ignore[arg-type]
                if followed is not None and followed.role == "bot":
                    followed = shown[followed.position, followed.follows_id]
                self.before[row.id] = followed

    def context_id(self, row: Row) -> int | None:
        """The id of the context before `row` (0: none); None where its branch loops (a
        database that took in a looping archive before imports were checked)."""
        before = self.before[row.id]
        return 0 if before is None else self._ending_at(before)

    def _ending_at(self, message: Row) -> int | None:
        walk: list[Row] = []  # back to a message whose context is known, or to the start
        seen: set[int] = set()
        current: Row | None = message
        while current is not None and current.id not in self._ending:
            if current.id in seen:  # a loop: no context can be told for any of the walk
                self._ending.update(dict.fromkeys(seen))
                return None
            seen.add(current.id)
            walk.append(current)
            current = self.before[current.id]
        known = 0 if current is None else self._ending[current.id]
        for step in reversed(walk):
            if known is not None:
                known = self._ids.setdefault((known, normalise(step.text)), len(self._ids) + 1)
            self._ending[step.id] = known
        return self._ending[message.id]

    def texts(self, row: Row, limit: int | None) -> list[str]:
        """The turns before `row`, oldest first: the last `limit` of them (all for None)."""
        texts: list[str] = []
        current = self.before[row.id]
        while current is not None and (limit is None or len(texts) < limit):
            texts.append(current.text)
            current = self.before[current.id]
        return texts[::-1]


def collect_pairs(
    session: Session,
    include: Collection[str],
    *,
    conversation_id: int | None = None,
    max_context_turns: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[TrainingPair]:
    """The pairs of the kinds in `include`, in time and memory linear in the messages read
    (with `max_context_turns`; without it each pair holds its whole context).

    `should_stop` is asked between conversations; when it turns true, `Stopped` is raised.
    """
    kinds = check_kinds(include)
    if not kinds:
        return []
    # Only conversations that hold a target are read in full.
    holders = select(Message.conversation_id).where(
        Message.position > 0, or_(*(_CONDITIONS[kind] for kind in kinds))
    )
    if conversation_id is not None:
        holders = holders.where(Message.conversation_id == conversation_id)
    rows = session.execute(
        select(
            Message.id,
            Message.conversation_id,
            Message.position,
            Message.role,
            Message.text,
            Message.chosen,
            Message.rating,
            Message.corrected_text,
            Message.follows_id,
        )
        .where(Message.conversation_id.in_(holders))
        .order_by(Message.conversation_id, Message.position, Message.id)
    ).all()
    contexts = _Contexts()
    pairs = []
    for _, group in itertools.groupby(rows, key=attrgetter("conversation_id")):
        if should_stop is not None and should_stop():
            raise Stopped("stopped while reading the training pairs")
        conversation_rows = list(group)
        contexts.read(conversation_rows)
        for row in conversation_rows:
            target = _kind_of(row, kinds)
            if target is None:
                continue
            context_id = contexts.context_id(row)
            if not context_id:  # no context (an opening turn), or a branch that loops
                continue
            pairs.append(
                TrainingPair(
                    context=contexts.texts(row, max_context_turns),
                    response=target[1],
                    kind=target[0],
                    conversation_id=row.conversation_id,
                    message_id=row.id,
                    context_key=context_id,
                )
            )
    return pairs


def count_pairs(session: Session) -> dict[str, int]:
    """How many pairs of each kind `collect_pairs` would give (all conversations)."""
    row = session.execute(
        select(
            *(
                func.coalesce(func.sum(case((_CONDITIONS[kind], 1), else_=0)), 0)
                for kind in PAIR_KINDS
            )
        ).where(Message.position > 0)
    ).one()
    return dict(zip(PAIR_KINDS, row, strict=True))


def collect_corrections(session: Session, kind: PairKind) -> list[CorrectionRecord]:
    """Every correction (or, for `PairKind.LIKED`, every reply rated up and not corrected) with
    the user turn it answers, in the order the corrections were made (not their replies; a
    like, in the order of its reply): the memory lets the latest teaching win."""
    prompt = aliased(Message)
    corrected_at = func.coalesce(Message.corrected_at, Message.created_at)  # before 0005: unknown
    text = Message.corrected_text if kind is PairKind.CORRECTED else Message.text
    rows = session.execute(
        select(Message.id, Message.conversation_id, prompt.text, text,
               Message.created_at, Message.corrected_at)
        .join(prompt, prompt.id == Message.follows_id)  # the user turn it answers, any branch
        .where(_CONDITIONS[kind], prompt.role == "user")
        .order_by(corrected_at, Message.id)
    ).all()  # fmt: skip
    return [
        CorrectionRecord(row[0], row[1], row[2], row[3], row[4], row[5] or row[4], kind)
        for row in rows
        if row[2].strip() and row[3].strip()
    ]
