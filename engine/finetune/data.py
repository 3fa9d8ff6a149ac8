"""Which saved pairs a fine-tune trains on, which it holds out, and what it replays.

A `SavedPair` is an example and its kind. Corrections are all trained on; liked replies and
the user's own turns hold out about a tenth of their conversations (by a hash of the
conversation, so adding one never moves another) to measure generalisation. The original
corpus is replayed beside them, a fresh draw every epoch.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from engine.data import Example, normalise
from engine.errors import ConfigError
from engine.pairs import PairKind, check_kinds, distinct, pair_key, usable

DEFAULT_REPLAY_CORPUS = "chitchat"


@dataclass(frozen=True)
class SavedPair:
    example: Example
    kind: PairKind

    def __post_init__(self) -> None:
        try:  # a plain string names a kind too ("corrected" == PairKind.CORRECTED)
            object.__setattr__(self, "kind", check_kinds([self.kind])[0])
        except ValueError as error:
            raise ConfigError(str(error)) from None


def _heldout_order(key: str) -> tuple[int, bytes]:
    digest = hashlib.sha1(f"heldout:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100, digest


def split_heldout(
    examples: Sequence[Example], *, percent: int = 10
) -> tuple[list[Example], list[Example]]:
    """(train, held-out) by conversation, deterministically (a hash of the key).

    A conversation whose hash bucket is under `percent` is held out, so adding conversations
    never moves an old one between the sides. With two or more conversations at least one is
    held out and at least one is trained on.
    """
    keys = sorted({example.conversation for example in examples}, key=_heldout_order)
    held = sum(1 for key in keys if _heldout_order(key)[0] < percent)
    if len(keys) >= 2:
        held = min(max(held, 1), len(keys) - 1)
    heldout_keys = set(keys[:held])
    train_part = [example for example in examples if example.conversation not in heldout_keys]
    heldout = [example for example in examples if example.conversation in heldout_keys]
    return train_part, heldout


def _prompt(example: Example) -> str:
    return normalise(example.context[-1]) if example.context else ""


def dedupe(pairs: Sequence[SavedPair]) -> list[SavedPair]:
    """The usable pairs (`engine.pairs.usable`), each context + response once (the first
    kept: callers list corrections first)."""
    return distinct(
        (pair for pair in pairs if usable(pair.example.context, pair.example.response)),
        lambda pair: pair_key(pair.example.context, pair.example.response),
    )


def split_pairs(
    pairs: Sequence[SavedPair], *, percent: int = 10
) -> tuple[list[SavedPair], list[Example]]:
    """(pairs to train on, held-out examples).

    Corrections are all trained on. Liked replies and own turns are split by conversation; a
    held-out example whose prompt is also a training prompt is dropped (it would measure
    memory, not generalisation).
    """
    taught = [pair for pair in pairs if pair.kind == PairKind.CORRECTED]
    others = [pair for pair in pairs if pair.kind != PairKind.CORRECTED]
    kind_of = {id(pair.example): pair for pair in others}
    train_part, heldout = split_heldout([pair.example for pair in others], percent=percent)
    training = [*taught, *(kind_of[id(example)] for example in train_part)]
    prompts = {_prompt(pair.example) for pair in training}
    return training, [example for example in heldout if _prompt(example) not in prompts]


def replay_examples(pool: Sequence[Example], count: int, *, seed: int = 0) -> list[Example]:
    """`count` examples drawn without replacement from `pool`, the same ones for one seed."""
    if count <= 0 or not pool:
        return []
    if count >= len(pool):
        return list(pool)
    return random.Random(seed).sample(list(pool), count)
