"""From the store's training pairs to the engine's examples, and what counts as enough.

Shared by `main.py finetune` and the fine-tune dialog, so both say the same thing about how
many pairs there are and why a run is refused.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from chatapp.store import PAIR_KINDS, Store, TrainingPair
from engine.data import Example

MIN_PAIRS = 20  # fewer saved pairs teach nothing measurable and are easily over-fitted
DEFAULT_INCLUDE = ("corrected", "liked")
KIND_LABELS = {
    "corrected": "corrections",
    "liked": "replies rated up",
    "user": "your own turns",
}
WHAT_COUNTS = (
    "What counts: a bot reply you corrected, a bot reply you rated up, "
    "or (with “your own turns” / --include user) the messages you wrote yourself."
)


def parse_include(text: str) -> tuple[str, ...]:
    """`"corrected,liked"` → ("corrected", "liked"); raises ValueError for an unknown kind."""
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(kinds) - set(PAIR_KINDS))
    if unknown or not kinds:
        raise ValueError(
            f"--include takes a comma-separated list of {', '.join(PAIR_KINDS)}, not {text!r}"
        )
    return tuple(kind for kind in PAIR_KINDS if kind in kinds)


def load_pairs(store: Store, include: Collection[str]) -> list[TrainingPair]:
    """The saved pairs of the kinds in `include`, corrections first, then liked, then user."""
    pairs = store.training_pairs(include=tuple(include))
    order = {kind: index for index, kind in enumerate(PAIR_KINDS)}
    return sorted(pairs, key=lambda pair: order[pair.kind])  # stable: keeps conversation order


def count_by_kind(pairs: Sequence[TrainingPair]) -> dict[str, int]:
    counts = dict.fromkeys(PAIR_KINDS, 0)
    for pair in pairs:
        counts[pair.kind] += 1
    return counts


def to_examples(pairs: Sequence[TrainingPair]) -> list[Example]:
    """Engine examples; the conversation id decides the held-out split."""
    return [
        Example(
            context=tuple(pair.context),
            response=" ".join(pair.response.split()),
            conversation=f"conversation-{pair.conversation_id}",
        )
        for pair in pairs
    ]


def describe_counts(counts: Mapping[str, int]) -> str:
    """`"3 corrections, 12 replies rated up, 40 your own turns"`."""
    return ", ".join(f"{counts.get(kind, 0)} {KIND_LABELS[kind]}" for kind in PAIR_KINDS)


def selected_total(counts: Mapping[str, int], include: Collection[str]) -> int:
    return sum(counts.get(kind, 0) for kind in include)


def not_enough_message(counts: Mapping[str, int], include: Collection[str]) -> str | None:
    """Why a run with these counts would be refused, or None when there is enough."""
    total = selected_total(counts, include)
    if total >= MIN_PAIRS:
        return None
    chosen = ", ".join(KIND_LABELS[kind] for kind in PAIR_KINDS if kind in include)
    unused = [kind for kind in PAIR_KINDS if kind not in include and counts.get(kind, 0)]
    hint = ""
    if unused and selected_total(counts, [*include, *unused]) >= MIN_PAIRS:
        hint = " Including " + " and ".join(KIND_LABELS[kind] for kind in unused) + " would do."
    return (
        f"Not enough saved examples to fine-tune: {total} selected ({chosen}), at least "
        f"{MIN_PAIRS} are needed. Available: {describe_counts(counts)}. {WHAT_COUNTS}{hint}"
    )
