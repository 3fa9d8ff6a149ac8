"""From the store's training pairs to the engine's examples, and what counts as enough.

Shared by `main.py finetune` and the fine-tune dialog, so both say the same thing about how
many pairs there are and why a run is refused. A pair is counted once: the same context and
response again (an imported copy of a conversation, a reply both corrected and liked) adds
nothing, and pairs with an empty or blank text are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from chatapp.store import Store, TrainingPair
from engine.data import Example
from engine.pairs import PAIR_KINDS, PairKind, distinct, pair_key, usable

# Measured with `bench/finetune.py --teach 5`: five corrections alone fine-tune safely (the
# original corpus's perplexity +1.7%, within the guard), though from so few the model itself
# learned 1 of 5 (the memory answers all 5 at once); with 24, 18 of 24 (see the README).
MIN_PAIRS = 5
KIND_LABELS = {
    PairKind.CORRECTED: "corrections",
    PairKind.LIKED: "replies rated up",
    PairKind.USER: "your own turns",
}
WHAT_TEACHES = {
    PairKind.CORRECTED: "Corrections: what it should have said. Learned first and weighed most.",
    PairKind.LIKED: "Replies rated up: answers you liked, so it gives more like them.",
    PairKind.USER: "Your own turns: it learns to talk like you (and may repeat your lines back).",
}
WHAT_COUNTS = (
    "What counts: a bot reply you corrected, a bot reply you rated up, "
    "or, with “your own turns” chosen, the messages you wrote yourself. "
    "The same exchange counts once."
)


def distinct_pairs(pairs: Sequence[TrainingPair]) -> list[TrainingPair]:
    """Each context + response once, the first kept; blank texts skipped."""
    return distinct(
        (pair for pair in pairs if usable(pair.context, pair.response)),
        lambda pair: pair_key(pair.context, pair.response, pair.context_key),
    )


def load_pairs(
    store: Store,
    include: Collection[str],
    *,
    max_context_turns: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[TrainingPair]:
    """The distinct saved pairs of the kinds in `include`: corrections, then liked, then user
    (so a pair that is both keeps the kind that weighs most).

    Each context holds at most its last `max_context_turns` turns (pass the model's own
    `context_turns`: it reads no more), though pairs are told apart by the whole of it.
    `should_stop` is polled while the store is read (`Stopped` when it turns true).
    """
    pairs = store.training_pairs(
        include=tuple(include), max_context_turns=max_context_turns, should_stop=should_stop
    )
    order = {kind: index for index, kind in enumerate(PAIR_KINDS)}
    return distinct_pairs(sorted(pairs, key=lambda pair: order[pair.kind]))  # stable sort


def distinct_counts(store: Store) -> dict[str, int]:
    """Distinct pairs of every kind, each counted as its own kind (for the counts shown).

    One read of the store; only each context's last turn is kept (whether it is blank), so
    counting a 10,000-message chat takes a fraction of a second."""
    pairs = store.training_pairs(include=PAIR_KINDS, max_context_turns=1)
    counts = dict.fromkeys(PAIR_KINDS, 0)
    for kind in PAIR_KINDS:
        counts[kind] = len(distinct_pairs([pair for pair in pairs if pair.kind == kind]))
    return counts


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
