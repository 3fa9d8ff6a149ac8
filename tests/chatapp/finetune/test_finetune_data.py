"""chatapp.finetune.data: distinct pairs, blank texts skipped, kinds kept, and what is enough."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatapp.finetune.data import (
    MIN_PAIRS,
    distinct_counts,
    distinct_pairs,
    load_pairs,
    not_enough_message,
)
from chatapp.finetune.errors import FinetuneError
from chatapp.finetune.job import to_saved_pairs
from chatapp.finetune.request import parse_include
from chatapp.store import Store, TrainingPair
from engine.data import Example
from engine.errors import ConfigError
from engine.finetune import SavedPair, dedupe
from engine.pairs import PairKind


def pair(context: list[str], response: str, kind: str = "corrected", conversation: int = 1):
    return TrainingPair(context, response, kind, conversation, conversation * 10)


def test_the_same_context_and_response_count_once_keeping_the_first_kind():
    corrected = pair(["Hi there!"], "Hello.", "corrected", 1)
    liked_copy = pair(["hi there"], "hello", "liked", 2)
    other = pair(["hi there"], "hello, friend", "liked", 3)
    assert distinct_pairs([corrected, liked_copy, other]) == [corrected, other]


def test_blank_texts_are_skipped():
    blank_reply = pair(["hello"], "  \n", conversation=1)
    blank_turn = pair(["hello", " "], "hi", conversation=2)
    good = pair(["hello"], "hi", conversation=3)
    assert distinct_pairs([blank_reply, blank_turn, good]) == [good]


def test_an_imported_copy_adds_nothing_and_counts_are_of_distinct_pairs(tmp_path: Path):
    with Store.open(tmp_path / "conversations.db") as store:
        for _ in range(2):  # the same conversation twice, as an imported copy leaves it
            conversation = store.create_conversation()
            store.add_user_turn(conversation.id, "what's your name?")
            reply = store.add_bot_reply(conversation.id, "i am a bot.")
            store.correct(reply.id, "my name is ada.")
            store.rate(reply.id, 1)
            store.add_user_turn(conversation.id, "nice to meet you, ada")
            store.rate(store.add_bot_reply(conversation.id, "nice to meet you too!").id, 1)
        assert store.training_pair_counts()["corrected"] == 2  # the raw rows
        assert distinct_counts(store) == {"corrected": 1, "liked": 1, "user": 1}
        pairs = load_pairs(store, ("corrected", "liked"))
        assert [(p.kind, p.response) for p in pairs] == [
            ("corrected", "my name is ada."),
            ("liked", "nice to meet you too!"),
        ]
        saved = to_saved_pairs(pairs)
        assert [p.kind for p in saved] == ["corrected", "liked"]
        assert saved[0].example.context == ("what's your name?",)


def test_a_few_corrections_are_enough_without_your_own_turns():
    assert MIN_PAIRS <= 5
    enough = {"corrected": MIN_PAIRS, "liked": 0, "user": 50}
    assert not_enough_message(enough, ("corrected", "liked")) is None
    short = {"corrected": MIN_PAIRS - 1, "liked": 0, "user": 50}
    message = not_enough_message(short, ("corrected", "liked"))
    assert message is not None and f"at least {MIN_PAIRS}" in message
    assert "The same exchange counts once" in message


def test_the_app_and_the_engine_keep_the_same_pairs_and_kinds():
    """One rule: the pairs the dialog counts are the pairs the engine trains on, as one enum."""
    pairs = [
        pair(["Hi there!"], "Hello.", "corrected", 1),
        pair(["hi there"], "hello", "liked", 2),  # the same pair again
        pair(["hello", " "], "hi", "liked", 3),  # no last turn to answer
        pair(["hello"], "  ", "user", 4),  # no reply
        pair(["how are you?"], "fine.", "user", 5),
    ]
    counted = distinct_pairs(pairs)
    trained = dedupe(to_saved_pairs(pairs))
    assert [(p.response, p.kind) for p in counted] == [("Hello.", PairKind.CORRECTED),
                                                       ("fine.", PairKind.USER)]  # fmt: skip
    assert [(p.example.response, p.kind) for p in trained] == [
        (p.response, p.kind) for p in counted
    ]
    assert all(isinstance(p.kind, PairKind) for p in trained)


def test_an_unknown_kind_is_refused_in_the_same_words_everywhere(tmp_path: Path):
    refusal = pytest.raises(ValueError, match="unknown training pair kinds")
    with Store.open(tmp_path / "conversations.db") as store, refusal as by_store:
        store.training_pairs(include=("corrected", "disliked"))
    with pytest.raises(ConfigError) as by_engine:
        SavedPair(Example(("hi",), "hello"), "disliked")
    with pytest.raises(FinetuneError, match="--include takes"):
        parse_include("corrected,disliked")
    assert str(by_engine.value) == str(by_store.value)
