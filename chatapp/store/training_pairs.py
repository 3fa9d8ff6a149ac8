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
from collections.abc import Collection
from operator import attrgetter

from sqlalchemy import ColumnElement, Row, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from chatapp.store.models import Message
from chatapp.store.records import PAIR_KINDS, CorrectionRecord, PairKind, TrainingPair

# Which messages give a pair of each kind; `_kind_of` is the same rule for one row.
_CONDITIONS: dict[PairKind, ColumnElement[bool]] = {
    "corrected": and_(Message.role == "bot", Message.corrected_text.is_not(None)),
    "liked": and_(Message.role == "bot", Message.corrected_text.is_(None), Message.rating == 1),
    "user": and_(Message.role == "user", Message.chosen),
}


def check_kinds(include: Collection[str]) -> tuple[PairKind, ...]:
    unknown = sorted(set(include) - set(PAIR_KINDS))
    if unknown:
        raise ValueError(f"unknown training pair kinds {unknown}; choose from {list(PAIR_KINDS)}")
    return tuple(kind for kind in PAIR_KINDS if kind in include)


def _kind_of(row: Row, kinds: tuple[PairKind, ...]) -> tuple[PairKind, str] | None:
    """The kind and response a message gives, or None."""
    if row.role == "bot":
        if row.corrected_text is not None:
            return ("corrected", row.corrected_text) if "corrected" in kinds else None
        if row.rating == 1 and "liked" in kinds:
            return "liked", row.text
    elif row.chosen and "user" in kinds:
        return "user", row.text
    return None


def _branch_context(row: Row, rows: list[Row]) -> list[str]:
    """The turns a message off the visible path follows, oldest first: at each step back the
    shown alternative of the slot (the chosen one, else the newest, as the window would)."""
    by_id = {r.id: r for r in rows}
    groups: dict[tuple[int, int | None], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.position, r.follows_id), []).append(r)
    texts: list[str] = []
    current = row
    while current.follows_id is not None and current.follows_id in by_id:
        slot = by_id[current.follows_id]
        group = groups[slot.position, slot.follows_id]
        shown = slot if slot.role == "user" else next((r for r in group if r.chosen), group[-1])
        texts.append(shown.text)
        current = shown
    return texts[::-1]


def collect_pairs(
    session: Session,
    include: Collection[str],
    *,
    conversation_id: int | None = None,
    max_context_turns: int | None = None,
) -> list[TrainingPair]:
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
    pairs = []
    for _, group in itertools.groupby(rows, key=attrgetter("conversation_id")):
        conversation_rows = list(group)
        path = [row for row in conversation_rows if row.chosen]
        path_positions = [row.position for row in path]
        path_texts = [row.text for row in path]
        on_path = {(row.position, row.follows_id) for row in path}
        for row in conversation_rows:
            target = _kind_of(row, kinds)
            if target is None:
                continue
            if (row.position, row.follows_id) in on_path:
                end = bisect.bisect_left(path_positions, row.position)
                context = path_texts[:end]
            else:
                context = _branch_context(row, conversation_rows)
            if not context:
                continue
            if max_context_turns is not None:
                context = context[len(context) - min(len(context), max_context_turns) :]
            pairs.append(
                TrainingPair(
                    context=context,
                    response=target[1],
                    kind=target[0],
                    conversation_id=row.conversation_id,
                    message_id=row.id,
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


def collect_corrections(session: Session) -> list[CorrectionRecord]:
    """Every correction with the user turn before it on the visible path, in the order the
    corrections were made (not their replies): the memory lets the latest teaching win."""
    prompt = aliased(Message)
    corrected_at = func.coalesce(Message.corrected_at, Message.created_at)  # before 0005: unknown
    rows = session.execute(
        select(Message.id, Message.conversation_id, prompt.text, Message.corrected_text,
               Message.created_at, Message.corrected_at)
        .join(prompt, prompt.id == Message.follows_id)  # the user turn it answers, any branch
        .where(Message.role == "bot", Message.corrected_text.is_not(None), prompt.role == "user")
        .order_by(corrected_at, Message.id)
    ).all()  # fmt: skip
    return [
        CorrectionRecord(row[0], row[1], row[2], row[3], row[4], row[5] or row[4])
        for row in rows
        if row[2].strip() and row[3].strip()
    ]
