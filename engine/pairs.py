"""Saved pairs, the one rule for each: their kinds, which pairs can teach, which are the same.

The store reads pairs of these kinds, the app counts and chooses them, the engine weighs and
trains on them; all three ask here. No torch: the store and the dialog import it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from enum import StrEnum
from typing import TypeVar

from engine.data import normalise


class PairKind(StrEnum):
    """What a saved pair is (equal to its name as a string, as the store keeps it)."""

    CORRECTED = "corrected"  # a bot reply the user corrected: what it should have said
    LIKED = "liked"  # a bot reply rated up, with no correction
    USER = "user"  # the user's own turn (teaches the model to talk like them)


T = TypeVar("T")

# In the order pairs are listed and counted: a pair that is two kinds keeps the first.
PAIR_KINDS: tuple[PairKind, ...] = tuple(PairKind)


def check_kinds(kinds: Collection[str]) -> tuple[PairKind, ...]:
    """The kinds named, in `PAIR_KINDS` order; ValueError naming any unknown one."""
    unknown = sorted(set(kinds) - set(PAIR_KINDS))
    if unknown:
        names = [str(kind) for kind in PAIR_KINDS]
        raise ValueError(f"unknown training pair kinds {unknown}; choose from {names}")
    return tuple(kind for kind in PAIR_KINDS if kind in kinds)


def usable(context: Sequence[str], response: str) -> bool:
    """A pair teaches something: a reply, and a last turn for it to answer."""
    return bool(response.strip()) and bool(context) and bool(context[-1].strip())


def distinct(pairs: Iterable[T], key: Callable[[T], Hashable]) -> list[T]:
    """Each pair once (by `key`, normally `pair_key`), the first kept: callers list the kinds
    in `PAIR_KINDS` order, so a pair that is two kinds keeps the one that weighs most."""
    seen: set[Hashable] = set()
    unique = []
    for pair in pairs:
        name = key(pair)
        if name not in seen:
            seen.add(name)
            unique.append(pair)
    return unique


def pair_key(
    context: Sequence[str], response: str, context_key: Hashable | None = None
) -> tuple[Hashable, str]:
    """What tells pairs apart: their whole context (by `context_key` when the caller has one
    that stands for it, such as the store's) and their response, both as `normalise` reads."""
    if context_key is None:
        context_key = tuple(normalise(turn) for turn in context)
    return context_key, normalise(response)
