"""One conversation with every field of every message set, and what each must read back as.

The expected values are written out here, not taken from the exporter, so an archive writer
(or an Undo) that drops a field fails the tests that use this (#27 item 6). The chat:

    position 0  user "hello 👋"
    position 1  bot  "hi" (rated -1, corrected, stopped, reranked from the corpus, a memory note)
                bot  "hello there" (regenerated from "hi", rated +1, beam n-best)   <- chosen
    position 2  user "tell me a joke" (after "hello there")
                user "tell me a story" (edited from the joke)                       <- chosen
    position 3  bot  "no" (after the joke)
                bot  "once upon a time" (after the story, seed 99)                  <- chosen
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chatapp.store import Candidate, GenerationInfo, ReplyTimings, Store
from chatapp.store.records import MessageRecord

TITLE = "Every field"
CORRECTION = "Hello! How can I help?"

_PLAIN: dict[str, Any] = {
    "rating": 0, "corrected_text": None, "stopped": False, "seed": None, "decoding": None,
    "timings": None, "nbest": None, "parent": None, "versioned": False,
}  # fmt: skip

EXPECTED: dict[str, dict[str, Any]] = {
    "hello 👋": {**_PLAIN, "position": 0, "role": "user", "chosen": True, "alternative": (0, 1)},
    "hi": {
        **_PLAIN, "position": 1, "role": "bot", "chosen": False, "alternative": (0, 2),
        "rating": -1, "corrected_text": CORRECTION, "stopped": True, "seed": 11,
        "versioned": True,
        "decoding": {
            "strategy": "rerank", "candidates": 4, "mmi_weight": 0.5, "temperature": 0.9,
            "memory": {"prompt": "hello", "exact": True, "chosen": False},
            "provenance": {"source": "corpus", "origin": "chitchat #12"},
        },
        "timings": {"ttft_ms": 5.0, "total_ms": 12.5, "tokens": 3, "tokens_per_s": 240.0},
        "nbest": [
            {"text": "hi", "score": -0.5, "forward": -0.7, "mmi": -0.2, "scorer": "backward"},
            {"text": "hey you", "score": -0.9, "forward": -1.1, "mmi": -0.3, "cut": True,
             "scorer": "backward", "source": "corpus", "origin": "chitchat #12"},
        ],
    },
    "hello there": {
        **_PLAIN, "position": 1, "role": "bot", "chosen": True, "alternative": (1, 2),
        "rating": 1, "parent": "hi", "versioned": True,
        "decoding": {"strategy": "beam", "beam_size": 4},
        "timings": {"ttft_ms": None, "total_ms": 30.0, "tokens": 2, "tokens_per_s": 66.5},
        "nbest": [{"text": "hello there", "score": -0.3}, {"text": "hello", "score": -0.6}],
    },
    "tell me a joke": {
        **_PLAIN, "position": 2, "role": "user", "chosen": False, "alternative": (0, 2),
    },
    "tell me a story": {
        **_PLAIN, "position": 2, "role": "user", "chosen": True, "alternative": (1, 2),
        "parent": "tell me a joke",
    },
    "no": {**_PLAIN, "position": 3, "role": "bot", "chosen": False, "alternative": (0, 1)},
    "once upon a time": {
        **_PLAIN, "position": 3, "role": "bot", "chosen": True, "alternative": (0, 1),
        "seed": 99, "decoding": {"strategy": "sample", "top_p": 0.9},
    },
}  # fmt: skip

CHOSEN_PATH = ["hello 👋", "hello there", "tell me a story", "once upon a time"]


def seed_every_field(store: Store, version_id: int) -> int:
    """The conversation above, its replies made by model version `version_id`; its id."""
    conversation = store.create_conversation(TITLE)
    store.add_user_turn(conversation.id, "hello 👋")
    first = store.add_bot_reply(
        conversation.id,
        "hi",
        GenerationInfo(
            model_version_id=version_id,
            decoding={"strategy": "rerank", "candidates": 4, "mmi_weight": 0.5, "temperature": 0.9},
            seed=11,
            timings=ReplyTimings(ttft_ms=5.0, total_ms=12.5, tokens=3, tokens_per_s=240.0),
            nbest=(
                Candidate("hi", -0.5, forward=-0.7, mmi=-0.2),
                Candidate(
                    "hey you",
                    -0.9,
                    forward=-1.1,
                    mmi=-0.3,
                    cut=True,
                    source="corpus",
                    origin="chitchat #12",
                ),
            ),
            scorer="backward",
            memory={"prompt": "hello", "exact": True, "chosen": False},
            stopped=True,
            source="corpus",
            origin="chitchat #12",
        ),
    )
    store.rate(first.id, -1)
    store.correct(first.id, CORRECTION)
    second = store.add_alternative(
        first.id,
        "hello there",
        GenerationInfo(
            model_version_id=version_id,
            decoding={"strategy": "beam", "beam_size": 4},
            nbest=(Candidate("hello there", -0.3), Candidate("hello", -0.6)),
            timings=ReplyTimings(ttft_ms=None, total_ms=30.0, tokens=2, tokens_per_s=66.5),
        ),
    )
    store.rate(second.id, 1)
    joke = store.add_user_turn(conversation.id, "tell me a joke")
    store.add_bot_reply(conversation.id, "no")
    store.edit_user_turn(joke.id, "tell me a story")
    store.add_bot_reply(
        conversation.id,
        "once upon a time",
        GenerationInfo(seed=99, decoding={"strategy": "sample", "top_p": 0.9}),
    )
    store.pin_conversation(conversation.id)
    return conversation.id


def all_messages(store: Store, conversation_id: int) -> dict[str, MessageRecord]:
    """Every message of the conversation, on the chosen path or not, by text."""
    connection = sqlite3.connect(store.path)
    try:
        ids = [row[0] for row in connection.execute(
            "SELECT id FROM messages WHERE conversation_id = ?", (conversation_id,)
        )]  # fmt: skip
    finally:
        connection.close()
    records = [store.get_message(message_id) for message_id in ids]
    return {record.text: record for record in records}


def assert_every_field(store: Store, conversation_id: int, version_id: int) -> None:
    """Each message reads back as `EXPECTED` says, field by field, and the chat as seeded."""
    conversation = store.get_conversation(conversation_id)
    assert (conversation.title, conversation.pinned, conversation.archived) == (TITLE, True, False)
    assert conversation.message_count == len(CHOSEN_PATH)
    assert store.history(conversation_id) == CHOSEN_PATH
    messages = all_messages(store, conversation_id)
    assert sorted(messages) == sorted(EXPECTED)
    for text, expected in EXPECTED.items():
        record = messages[text]
        parent = store.get_message(record.parent_id).text if record.parent_id else None
        actual = {
            "position": record.position, "role": record.role, "chosen": record.chosen,
            "alternative": (record.alternative_index, record.alternative_count),
            "rating": record.rating, "corrected_text": record.corrected_text,
            "stopped": record.stopped, "seed": record.seed, "decoding": record.decoding,
            "timings": record.timings, "nbest": record.nbest, "parent": parent,
            "versioned": record.model_version_id is not None,
        }  # fmt: skip
        assert actual == expected, text
        if expected["versioned"]:
            assert record.model_version_id == version_id, text
    [correction] = store.corrections()
    assert (correction.prompt, correction.text) == ("hello 👋", CORRECTION)
    assert correction.message_id == messages["hi"].id


def assert_branches_follow(store: Store, conversation_id: int) -> None:
    """Each branch continues from the turn it was written after (then the chosen path again)."""
    messages = all_messages(store, conversation_id)
    store.choose_alternative(messages["tell me a joke"].id)
    assert store.history(conversation_id) == ["hello 👋", "hello there", "tell me a joke", "no"]
    store.choose_alternative(messages["tell me a story"].id)
    # Regenerated replies share what follows them: switching between them keeps it.
    store.choose_alternative(messages["hi"].id)
    assert store.history(conversation_id) == ["hello 👋", "hi", *CHOSEN_PATH[2:]]
    store.choose_alternative(messages["hello there"].id)
    assert store.history(conversation_id) == CHOSEN_PATH
