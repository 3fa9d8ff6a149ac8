"""Turns, regenerated alternatives, ratings, corrections, edits and paging along the path."""

from __future__ import annotations

import pytest

from chatapp.store import Candidate, GenerationInfo, NotFoundError, ReplyTimings, Store

NASTY_TEXTS = [
    "emoji 😀🎉 and a flag 🇫🇷",
    "CJK 你好，世界 / こんにちは / 안녕하세요",
    "RTL שלום עולם and مرحبا بالعالم with \u200f marks",
    "ZWJ family 👨\u200d👩\u200d👧\u200d👦 and skin tone 👍🏽",
    "NUL \x00 in the \x00\x00 middle\x00",
    "  leading and trailing whitespace, tabs\t and\r\nnewlines\n  ",
    "x" * 1_000_000,
]


def test_turns_are_appended_along_the_path(store):
    conversation = store.create_conversation()
    user = store.add_user_turn(conversation.id, "hello")
    bot = store.add_bot_reply(
        conversation.id,
        "hi there",
        GenerationInfo(
            model_version_id=None,
            decoding={"strategy": "beam", "beam_size": 4},
            seed=2**63 - 1,
            timings=ReplyTimings(ttft_ms=12.5, total_ms=80.0, tokens=3, tokens_per_s=37.5),
            nbest=(Candidate("hi there", -0.5), Candidate("hello", -1)),
            stopped=True,
        ),
    )
    assert (user.position, user.role, bot.position, bot.role) == (0, "user", 1, "bot")
    assert bot.decoding == {"strategy": "beam", "beam_size": 4}
    assert bot.seed == 2**63 - 1 and bot.stopped
    assert bot.timings == {"ttft_ms": 12.5, "total_ms": 80.0, "tokens": 3, "tokens_per_s": 37.5}
    assert bot.nbest == [{"text": "hi there", "score": -0.5}, {"text": "hello", "score": -1.0}]
    assert store.get_message(bot.id) == bot
    assert store.message_count(conversation.id) == 2
    assert store.history(conversation.id) == ["hello", "hi there"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_user_text_is_refused(store, text):
    conversation = store.create_conversation()
    with pytest.raises(ValueError, match="empty"):
        store.add_user_turn(conversation.id, text)
    assert store.message_count(conversation.id) == 0


def test_bad_arguments_are_refused(store, chat):
    conversation = chat("hello", "hi")
    user, bot = store.page_messages(conversation.id, 0, 2)
    with pytest.raises(NotFoundError):
        store.add_user_turn(conversation.id + 100, "anyone?")
    with pytest.raises(ValueError, match="64 bits"):
        store.add_bot_reply(conversation.id, "x", GenerationInfo(seed=2**64))
    for rating in (2, -2, True, 0.5):
        with pytest.raises(ValueError, match="rating"):
            store.rate(bot.id, rating)
    with pytest.raises(ValueError, match="user turn"):
        store.rate(user.id, 1)
    with pytest.raises(ValueError, match="bot turn"):
        store.edit_user_turn(bot.id, "nope")
    with pytest.raises(ValueError, match="empty"):
        store.correct(bot.id, "  ")
    assert store.history(conversation.id) == ["hello", "hi"]


def test_text_round_trips_exactly(db_path):
    with Store.open(db_path) as store:
        conversation = store.create_conversation()
        ids = []
        for text in NASTY_TEXTS:
            ids.append(store.add_user_turn(conversation.id, text).id)
            ids.append(
                store.add_bot_reply(
                    conversation.id, text, GenerationInfo(nbest=(Candidate(text, 0),))
                ).id
            )
        store.correct(ids[-1], NASTY_TEXTS[4])
    with Store.open(db_path) as store:
        expected = [text for text in NASTY_TEXTS for _ in range(2)]
        assert store.history(conversation.id) == expected
        page = store.page_messages(conversation.id, 0, 100)
        assert [m.text for m in page] == expected
        assert [m.nbest[0]["text"] for m in page if m.role == "bot"] == NASTY_TEXTS
        assert store.get_message(ids[-1]).corrected_text == NASTY_TEXTS[4]


def test_a_regenerated_reply_becomes_the_chosen_alternative(store, chat):
    conversation = chat("hello", "first try", "more")
    first = store.page_messages(conversation.id, 1, 1)[0]
    second = store.add_alternative(first.id, "second try", GenerationInfo(seed=7))
    third = store.add_alternative(second.id, "third try")

    assert (second.position, second.parent_id, second.chosen) == (1, first.id, True)
    assert (third.alternative_index, third.alternative_count, third.parent_id) == (2, 3, second.id)
    assert store.history(conversation.id) == ["hello", "third try", "more"]  # later turns kept
    assert store.message_count(conversation.id) == 3
    assert [(m.text, m.alternative_index, m.chosen) for m in store.alternatives(first.id)] == [
        ("first try", 0, False),
        ("second try", 1, False),
        ("third try", 2, True),
    ]

    chosen = store.choose_alternative(first.id)
    assert (chosen.chosen, chosen.alternative_index, chosen.alternative_count) == (True, 0, 3)
    shown = store.page_messages(conversation.id, 0, 10)
    assert [m.text for m in shown] == ["hello", "first try", "more"]
    assert [(m.alternative_index, m.alternative_count) for m in shown] == [(0, 1), (0, 3), (0, 1)]

    user = shown[0]
    with pytest.raises(ValueError, match="user turn"):
        store.add_alternative(user.id, "users are not regenerated")


def test_rating_and_correction(store, chat):
    conversation = chat("hello", "hi")
    bot = store.page_messages(conversation.id, 1, 1)[0]
    assert store.rate(bot.id, 1).rating == 1
    assert store.rate(bot.id, -1).rating == -1
    assert (
        store.correct(bot.id, "Hello! How can I help?").corrected_text == "Hello! How can I help?"
    )
    assert store.correct(bot.id, None).corrected_text is None
    assert store.history(conversation.id) == ["hello", "hi"]  # the text shown is unchanged


def test_editing_a_user_turn_starts_a_branch_and_keeps_the_old_one(store, chat):
    conversation = chat("one", "two", "three", "four", "five")
    third = store.page_messages(conversation.id, 2, 1)[0]
    edited = store.edit_user_turn(third.id, "THREE")
    assert (edited.text, edited.position, edited.parent_id) == ("THREE", 2, third.id)
    assert (edited.alternative_index, edited.alternative_count) == (1, 2)
    assert store.history(conversation.id) == ["one", "two", "THREE"]
    assert store.search("four") == []  # off the visible path, but kept
    assert [hit.message_id for hit in store.search("THREE")] == [edited.id]
    store.choose_alternative(third.id)
    assert store.history(conversation.id) == ["one", "two", "three", "four", "five"]


def test_paging_along_the_path(store):
    conversation = store.create_conversation()
    for index in range(250):
        if index % 2 == 0:
            store.add_user_turn(conversation.id, f"m{index}")
        else:
            store.add_bot_reply(conversation.id, f"m{index}")
    regenerated = store.page_messages(conversation.id, 101, 1)[0]
    store.add_alternative(regenerated.id, "m101 again")

    assert store.message_count(conversation.id) == 250
    page = store.page_messages(conversation.id, 100, 50)
    assert [m.position for m in page] == list(range(100, 150))
    assert page[1].text == "m101 again" and page[1].alternative_count == 2
    assert [m.text for m in store.page_messages(conversation.id, 240, 50)][-1] == "m249"
    assert store.page_messages(conversation.id, 250, 50) == []
    assert [m.text for m in store.last_messages(conversation.id, 3)] == ["m247", "m248", "m249"]
    assert len(store.last_messages(conversation.id, 1000)) == 250
    assert store.history(conversation.id, upto_position=3) == ["m0", "m1", "m2"]
    with pytest.raises(ValueError):
        store.page_messages(conversation.id, -1, 10)
