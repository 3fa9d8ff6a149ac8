"""Replies the user liked as the pool's source (#22): a reply rated up in an earlier
conversation is offered again for the same question, says it is liked, and loses to a
correction of that question."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Chatbot, DecodeConfig
from engine.memory import EXACT_BONUS, Correction, CorrectionMemory
from engine.sources import ReplySource

POOL = DecodeConfig(strategy="pool", candidates=4, retrieved=8, seed=3, mmi_weight=2.0)
LIKED = "my name is ada, nice to meet you."
TAUGHT = "call me ada, and i keep a lighthouse."
ORIGIN = "conversation 3, 2026-12-01 10:00"


def liked(prompt: str, reply: str = LIKED) -> Correction:
    return Correction(prompt, reply, "2026-12-01 10:00", 11, ReplySource.LIKED, ORIGIN)


@pytest.fixture
def bot(tiny_pool_model_dir: Path) -> Chatbot:
    return Chatbot.load(tiny_pool_model_dir, device="cpu")


def test_a_liked_reply_answers_its_question_again_and_says_it_is_liked(bot: Chatbot) -> None:
    bot.memory = CorrectionMemory([liked("what is your name?")])
    reply = bot.reply(["What is your NAME"], POOL)
    assert (reply.text, reply.source, reply.origin) == (LIKED, ReplySource.LIKED, ORIGIN)
    assert reply.source.label == "from a reply you liked"
    assert reply.memory is not None and reply.memory.chosen and reply.memory.exact
    assert reply.memory.describe()["source"] == "liked"
    assert reply.memory.describe()["source_id"] == 11
    assert reply.alternatives[0].source is ReplySource.LIKED
    entries, _ = bot.memory.pool_entries(bot, "what is your name?")
    assert 0 < entries[0].bonus < EXACT_BONUS  # less than a correction of the same question


@pytest.mark.parametrize("like_first", [True, False])
def test_a_correction_of_the_same_question_beats_a_like(bot: Chatbot, like_first: bool) -> None:
    """Whichever was made last: the user taught this question's answer."""
    corrected = Correction("what is your name?", TAUGHT)
    taught = [liked("What's your name"), corrected]
    bot.memory = CorrectionMemory(taught if like_first else taught[::-1])
    reply = bot.reply(["what is your name?"], POOL)
    assert (reply.text, reply.source) == (TAUGHT, ReplySource.CORRECTION)
    assert all(a.source is not ReplySource.LIKED for a in reply.alternatives)


def test_an_unrelated_question_does_not_get_the_liked_reply(bot: Chatbot) -> None:
    bot.memory = CorrectionMemory([liked("what is your name?")])
    for turn in ("do you like pizza?", "what is my name?"):
        reply = bot.reply([turn], POOL)
        assert reply.source is not ReplySource.LIKED and reply.text != LIKED, turn
        assert all(a.source is not ReplySource.LIKED for a in reply.alternatives)
