"""Training pairs: corrections beat ratings, liked replies count, user turns only when asked."""

from __future__ import annotations

import pytest

from chatapp.store import NotFoundError


@pytest.fixture
def seeded(store, chat):
    """Conversation A carries every kind of target; B carries none."""
    a = chat("hi", "hello", "how are you", "bad", "bye", "bye bye")
    _hi, hello, _how, bad, _bye, byebye = store.page_messages(a.id, 0, 10)
    store.rate(hello.id, 1)
    store.rate(bad.id, -1)
    store.correct(bad.id, "fine, thanks")
    store.rate(byebye.id, 1)
    store.correct(byebye.id, "see you")  # the correction beats the rating
    b = chat("x", "y")
    return a, b, {"hello": hello, "bad": bad, "byebye": byebye}


def _as_tuples(pairs):
    return [(p.context, p.response, p.kind) for p in pairs]


def test_corrections_and_liked_replies_by_default(store, seeded):
    a, _b, messages = seeded
    pairs = store.training_pairs()
    assert _as_tuples(pairs) == [
        (["hi"], "hello", "liked"),
        (["hi", "hello", "how are you"], "fine, thanks", "corrected"),
        (["hi", "hello", "how are you", "bad", "bye"], "see you", "corrected"),
    ]
    assert [p.message_id for p in pairs] == [m.id for m in messages.values()]
    assert {p.conversation_id for p in pairs} == {a.id}
    assert pairs[0].to_example() == {"context": ["hi"], "response": "hello"}


def test_user_turns_only_when_asked(store, seeded):
    assert store.training_pairs(include=("user",)) == store.training_pairs(["user"])
    assert _as_tuples(store.training_pairs(include=("user",))) == [
        (["hi", "hello"], "how are you", "user"),
        (["hi", "hello", "how are you", "bad"], "bye", "user"),
    ]
    everything = store.training_pairs(include=("corrected", "liked", "user"))
    assert len(everything) == 5
    assert store.training_pairs(include=()) == []


def test_counts_agree_with_the_pairs(store, seeded):
    counts = store.training_pair_counts()
    assert counts == {"corrected": 2, "liked": 1, "user": 2}
    for kind, count in counts.items():
        assert len(store.training_pairs(include=(kind,))) == count


def test_context_can_be_cut_and_conversations_chosen(store, seeded):
    a, b, _messages = seeded
    short = store.training_pairs(max_context_turns=2)
    assert [p.context for p in short] == [["hi"], ["hello", "how are you"], ["bad", "bye"]]
    assert store.training_pairs(conversation_id=b.id) == []
    assert len(store.training_pairs(conversation_id=a.id)) == 3
    with pytest.raises(NotFoundError):
        store.training_pairs(conversation_id=999)
    with pytest.raises(ValueError, match="unknown training pair kinds"):
        store.training_pairs(include=("disliked",))


def test_a_liked_alternative_counts_even_when_not_shown(store, chat):
    conversation = chat("hello", "meh")
    meh = store.page_messages(conversation.id, 1, 1)[0]
    store.add_alternative(meh.id, "better")
    store.rate(meh.id, 1)
    assert _as_tuples(store.training_pairs()) == [(["hello"], "meh", "liked")]
