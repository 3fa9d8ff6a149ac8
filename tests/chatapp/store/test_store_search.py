"""Full-text search: found across conversations, highlighted, ranked, and safe for any input."""

from __future__ import annotations

import random

import pytest

from chatapp.store import search
from chatapp.store.search import fts_query

UNSAFE_QUERIES = [
    '"foo',
    "AND(",
    "DROP TABLE messages; --",
    "NEAR(lighthouse keeper, 2)",
    "lighthouse OR keeper NOT sea",
    "text:lighthouse",
    "*",
    "-lighthouse",
    "^start",
    "{text}: x",
    "'",
    '""',
    "\x00",
    "light\x00house",
    "( ) ( (",
    "a\"b'c",
    "🙂",
    "",
    "   ",
]


def test_finds_a_message_in_another_conversation_with_highlighting(store, chat):
    chat("what's for dinner?", "pasta")
    target = chat(
        "tell me about the lighthouse", "The lighthouse keeper lit the lamp.", title="Sea"
    )
    message = store.page_messages(target.id, 1, 1)[0]

    hits = store.search("keeper")
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.conversation_id, hit.message_id, hit.position) == (target.id, message.id, 1)
    assert (hit.conversation_title, hit.role) == ("Sea", "bot")
    assert hit.snippet == "The lighthouse [keeper] lit the lamp."
    assert store.search("KEEPER lamp", open_marker="<b>", close_marker="</b>")[0].snippet == (
        "The lighthouse <b>keeper</b> lit the <b>lamp</b>."
    )


def test_every_word_must_match_and_the_last_one_as_a_prefix(store, chat):
    chat("the lighthouse keeper", "the lighthouse", "a café by the sea")
    assert [h.snippet for h in store.search("lighthouse keep")] == ["the [lighthouse] [keeper]"]
    assert store.search("keep lighthouse") == []  # only the last word is a prefix
    assert [h.snippet for h in store.search("cafe")] == ["a [café] by the sea"]  # accents folded
    assert len(store.search("lighthouse", limit=1)) == 1


def test_better_matches_rank_first(store, chat):
    chat("once there was a lighthouse far away on an island with many birds and a small garden")
    dense = chat("lighthouse lighthouse lighthouse")
    assert store.search("lighthouse")[0].conversation_id == dense.id


def test_a_short_last_word_is_matched_whole(store, chat):
    chat("an apple a day")
    assert store.search("ap") == []
    assert len(store.search("app")) == len(store.search("an")) == len(store.search("a")) == 1


def test_ranking_is_bounded_to_the_newest_matches(store, chat, monkeypatch):
    dense = chat("lighthouse lighthouse lighthouse")  # the best match, and the oldest
    for index in range(4):
        chat(f"lighthouse number {index} among quite a lot of other words around it")
    monkeypatch.setattr(search, "RANK_WINDOW", 3)
    hits = store.search("lighthouse")
    assert len(hits) == 3 and dense.id not in [hit.conversation_id for hit in hits]
    monkeypatch.setattr(search, "RANK_WINDOW", 5)
    assert store.search("lighthouse")[0].conversation_id == dense.id


@pytest.mark.parametrize("query", UNSAFE_QUERIES)
def test_unsafe_queries_never_raise(store, chat, query):
    chat("the lighthouse keeper", 'a "quoted" reply AND( with DROP TABLE in it')
    hits = store.search(query)
    assert isinstance(hits, list)
    assert store.search("lighthouse")  # the index and the table are still there


def test_random_punctuation_never_raises(store, chat):
    chat("the lighthouse keeper", "NEAR AND OR NOT")
    alphabet = "\"'()*:^-+{}[],.;!?\\/~`|&%$#@ \x00abcNEARANDORNOT"
    generator = random.Random(5)
    for _ in range(300):
        query = "".join(generator.choice(alphabet) for _ in range(generator.randint(1, 12)))
        store.search(query)
    assert fts_query('say "hi" AND(') == '"say" """hi""" "AND("*'


def test_only_the_visible_path_and_chosen_archives_are_searched(store, chat):
    conversation = chat("hello", "a walrus appeared")
    bot = store.page_messages(conversation.id, 1, 1)[0]
    store.add_alternative(bot.id, "a seal appeared")
    assert store.search("walrus") == []
    assert len(store.search("seal")) == 1
    store.archive_conversation(conversation.id)
    assert store.search("seal", include_archived=False) == []
    assert len(store.search("seal")) == 1
