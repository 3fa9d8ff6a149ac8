"""#26 item 9: the corrections memory (now the pool's first source) answers what it should and
nothing else: not another person's question, not another sum, and a turn of only punctuation or
emoji is answered, not ignored."""

from __future__ import annotations

import pytest

from engine import Chatbot
from engine.decoding.config import PRESETS
from engine.memory import (
    NEAR_THRESHOLD,
    Correction,
    CorrectionMemory,
    exact_key,
    same_question_kind,
    same_topic,
)
from engine.sources import ReplySource

DEFAULT = PRESETS["balanced"].replace(seed=1)


def taught(bot: Chatbot, *pairs: tuple[str, str]) -> Chatbot:
    bot.memory = CorrectionMemory([Correction(prompt, reply) for prompt, reply in pairs])
    return bot


@pytest.mark.parametrize(
    ("asked", "prompt", "answer"),
    [
        ("what is my name?", "what is your name?", "My name is Ada."),
        ("how old are they?", "how old are you?", "I am 12 years old."),
        ("what is 22", "what is 2+2", "four"),
    ],
)
def test_a_different_question_does_not_get_the_taught_reply(tiny_bot, asked, prompt, answer):
    bot = taught(tiny_bot, (prompt, answer))
    assert bot.memory.lookup(bot, asked) is None  # the gate itself refuses it
    reply = bot.reply([asked], DEFAULT)
    assert reply.text != answer and reply.source is not ReplySource.CORRECTION
    assert bot.reply([prompt], DEFAULT).text == answer  # while its own question gets it


def test_stripping_punctuation_no_longer_merges_different_prompts() -> None:
    assert exact_key("what is 2+2?") != exact_key("what is 22")
    assert exact_key("What's your NAME ?") == exact_key("whats your name")
    assert not same_question_kind("what is 3*4", "what is 34")


@pytest.mark.parametrize("turn", ["?", "👍", "?!", "🙂🙂"])
def test_a_turn_of_only_punctuation_or_emoji_is_answered(tiny_bot: Chatbot, turn: str) -> None:
    bot = taught(tiny_bot, ("what is your name?", "My name is Ada."))
    reply = bot.reply([turn], DEFAULT)
    assert reply.text.strip()
    assert reply.source is ReplySource.MODEL


def test_a_correction_taught_for_an_emoji_answers_that_emoji(tiny_bot: Chatbot) -> None:
    bot = taught(tiny_bot, ("👍", "glad you like it!"))
    assert bot.reply(["👍"], DEFAULT).text == "glad you like it!"
    assert bot.reply(["🙂"], DEFAULT).text != "glad you like it!"


def test_a_question_on_another_topic_does_not_get_the_taught_reply() -> None:
    """Same template, another topic word: the shipped model's encoder puts these at 0.74."""
    bot = taught(
        Chatbot.load(device="cpu"), ("what's your favorite food?", "i love mushroom risotto.")
    )
    assert not same_topic("what is your favorite color?", "what's your favorite food?", 0.74)
    assert same_topic("what food do you like?", "what's your favorite food?", 0.74)
    reply = bot.reply(["what is your favorite color?"], DEFAULT)
    assert reply.text != "i love mushroom risotto."


def test_a_rewording_gets_the_taught_reply_with_the_shipped_model() -> None:
    """Issue #22: a question put in other words reaches its correction through the gate (the
    turn encoder's cosine beside the shipped model's index, else its own encoder's)."""
    bot = taught(
        Chatbot.load(device="cpu"), ("what's your favorite food?", "i love mushroom risotto.")
    )
    match = bot.memory.lookup(bot, "what food do you like best?")
    assert match is not None and not match.exact
    assert match.score is not None and match.score >= NEAR_THRESHOLD
    reply = bot.reply(["what food do you like best?"], DEFAULT)
    assert reply.text == "i love mushroom risotto." and reply.source is ReplySource.CORRECTION


def test_a_question_that_shares_only_the_template_does_not_get_the_taught_reply() -> None:
    """The same template with another topic word, or none ("what do you like?"), is not the
    question; nor is a statement that shares the topic word but asks about someone else."""
    bot = taught(
        Chatbot.load(device="cpu"),
        ("what's your favorite food?", "i love mushroom risotto."),
        ("what do you do for work?", "i am a lighthouse keeper."),
    )
    for turn in ("what's your favorite smell?", "what do you like?", "my work is boring."):
        assert bot.memory.lookup(bot, turn) is None, turn
        assert bot.reply([turn], DEFAULT).source is not ReplySource.CORRECTION
