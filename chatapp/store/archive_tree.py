"""The shape of an archived conversation's message tree: only what the store itself writes.

The store writes a tree whose every walk ends: a message at position p > 0 follows a message at
p - 1 (the slot it continues), the first follows nothing; alternatives (the messages of one
slot) share a role, and a regenerated or edited one names an earlier alternative as its parent;
the shown path runs along one branch. An archive from elsewhere may hold anything, and a loop
in it would send every walk over the tree round for ever (issue 26: a reply that followed
itself hung fine-tuning), so a tree of any other shape is refused before anything is written.
"""

from __future__ import annotations

from typing import Any

from chatapp.store.errors import ArchiveError

Fields = dict[str, Any]


def _fail(where: str, problem: str) -> None:
    raise ArchiveError(f"malformed archive: {where}: {problem}")


def _check_follows(message: Fields, index: int, where: str, by_uid: dict[str, Fields]) -> None:
    followed = message["follows_uid"]
    here = f"{where}.messages[{index}].follows_uid"
    if message["position"] == 0:
        if followed is not None:
            _fail(here, "the first message (position 0) follows nothing; it names a message")
        return
    expected = f"must name a message at position {message['position'] - 1} (the turn before)"
    if followed is None:
        _fail(here, f"{expected}; it is null")
    if followed == message["uid"]:
        _fail(here, f"{expected}; it names the message itself")
    if by_uid[followed]["position"] != message["position"] - 1:
        _fail(here, f"{expected}; it names one at position {by_uid[followed]['position']}")


def _slot(message: Fields) -> tuple[int, str | None]:
    return message["position"], message["follows_uid"]


def check_tree(messages: list[Fields], where: str) -> None:
    """Refuse (`ArchiveError`) a conversation whose tree the store could not have written.

    `messages` are checked fields in archive order (the order of creation within a position);
    every `parent_uid` and `follows_uid` names one of them. An archive of version 1 (one line
    of turns, no `follows_uid` at all) is linked by the store on import, after this check.
    """
    by_uid = {m["uid"]: m for m in messages}
    order = {m["uid"]: index for index, m in enumerate(messages)}
    linked = any(m["follows_uid"] is not None for m in messages)
    first_of_slot: dict[tuple[int, str | None], Fields] = {}
    for index, message in enumerate(messages):
        if linked:
            _check_follows(message, index, where, by_uid)
        first = first_of_slot.setdefault(_slot(message), message)
        if first["role"] != message["role"]:
            _fail(
                f"{where}.messages[{index}].role",
                f"alternatives (one position of one branch) share a role: this one is "
                f"{message['role']!r}, an earlier one {first['role']!r}",
            )
        parent = message["parent_uid"]
        if parent is not None and (
            order[parent] >= index or _slot(by_uid[parent]) != _slot(message)
        ):
            _fail(
                f"{where}.messages[{index}].parent_uid",
                "must name an earlier alternative of the same turn (same position and branch)",
            )
    if linked:
        _check_shown_path(messages, where)


def _check_shown_path(messages: list[Fields], where: str) -> None:
    """The chosen message at each position continues the chosen one before it (or its slot:
    a regenerated reply's alternatives share what follows them)."""
    chosen = {m["position"]: (index, m) for index, m in enumerate(messages) if m["chosen"]}
    by_uid = {m["uid"]: m for m in messages}
    for position in sorted(chosen)[1:]:
        index, message = chosen[position]
        followed = by_uid[message["follows_uid"]]
        before = chosen[position - 1][1]
        if followed is not before and not (
            followed["role"] == "bot" and _slot(followed) == _slot(before)
        ):
            _fail(
                f"{where}.messages[{index}].chosen",
                f"the shown path must run along one branch: the message shown at position "
                f"{position} does not follow the one shown at position {position - 1}",
            )
