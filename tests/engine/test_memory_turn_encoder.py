"""The corrections gate with a turn encoder beside the reply index: a question put in words it
shares with no taught question gets the taught reply when the encoder says they mean the
same, and an unrelated question, another person's or a turn of one piece does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from engine import Chatbot
from engine.checkpoint import load_tokenizer
from engine.decoding.config import PRESETS
from engine.memory import (
    MODEL_GATE,
    NEAR_THRESHOLD,
    TURN_ENCODER_GATE,
    Correction,
    CorrectionMemory,
    unnamed_asks_you,
)
from engine.sources import ReplySource
from engine.turn_encoder import TURN_ENCODER_DIR, save_turn_encoder
from engine.turn_encoder_train import DistillSettings, distill_turn_encoder

DEFAULT = PRESETS["balanced"].replace(seed=1)
QUESTION, TAUGHT = "what is your job?", "i keep a lighthouse."
REWORDED = "how do you earn money?"  # not one word in common with QUESTION
UNRELATED = "do you like pizza?"
# What the synthetic teacher knows: words of one meaning share a direction, so a student that
# learned it puts "earn money" near "job" though no piece of one is in the other.
MEANINGS = {
    "work": ["job", "work", "occupation", "career", "earn money", "paid", "salary"],
    "food": ["pizza", "food", "dinner", "eat", "lunch", "snacks", "cooking"],
    "colour": ["color", "blue", "red", "paint", "green", "shade", "purple"],
}
TEMPLATES = ["what is your {}?", "how do you {}?", "do you like {}?", "tell me about {}",
             "i think about {} a lot", "{} is on my mind", "is {} good?"]  # fmt: skip


@pytest.fixture(scope="module")
def encoder_model_dir(tiny_pool_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pool model with a turn encoder distilled from the synthetic teacher beside its
    index; the turns the tests ask are not among the ones it learned from."""
    folder = tmp_path_factory.mktemp("memory-encoder") / "model"
    shutil.copytree(tiny_pool_model_dir, folder)
    tokenizer = load_tokenizer(folder)
    generator = torch.Generator().manual_seed(0)
    meanings = dict(zip(MEANINGS, torch.eye(len(MEANINGS), 16)))
    # Each wording adds a little of its own, so the same wording of two meanings stays apart.
    wordings = dict(zip(TEMPLATES, 0.1 * torch.randn(len(TEMPLATES), 16, generator=generator)))
    texts, vectors = [], []
    for meaning, words in MEANINGS.items():
        for word in words:
            for template, wording in wordings.items():
                text = template.format(word)
                if text not in (QUESTION, REWORDED, UNRELATED):
                    texts.append(text)
                    vectors.append(meanings[meaning] + wording)
    teacher = torch.nn.functional.normalize(torch.stack(vectors), dim=1)
    settings = DistillSettings(epochs=40, batch_size=16, learning_rate=1e-2)
    encoder, _ = distill_turn_encoder(tokenizer, texts * 2, torch.cat([teacher] * 2), settings)
    save_turn_encoder(encoder, tokenizer, folder / TURN_ENCODER_DIR, training={})
    return folder


@pytest.fixture
def encoder_bot(encoder_model_dir: Path) -> Chatbot:
    bot = Chatbot.load(encoder_model_dir, device="cpu")
    bot.memory = CorrectionMemory([Correction(QUESTION, TAUGHT)])
    return bot


def test_a_rewording_that_shares_no_word_gets_the_taught_reply(encoder_bot: Chatbot) -> None:
    memory = encoder_bot.memory
    assert memory is not None and memory.gate(encoder_bot) is TURN_ENCODER_GATE
    match = memory.lookup(encoder_bot, REWORDED)
    assert match is not None and not match.exact and match.correction.reply == TAUGHT
    # The turn encoder's cosine carried it: no topic word is shared, so it had to be certain.
    assert match.similarity >= TURN_ENCODER_GATE.certain
    assert match.score is not None and match.score >= NEAR_THRESHOLD
    reply = encoder_bot.reply([REWORDED], DEFAULT)
    assert (reply.text, reply.source) == (TAUGHT, ReplySource.CORRECTION)
    assert reply.memory is not None and reply.memory.chosen and not reply.memory.exact


def test_an_unrelated_question_does_not_get_the_taught_reply(encoder_bot: Chatbot) -> None:
    assert encoder_bot.memory is not None
    assert encoder_bot.memory.lookup(encoder_bot, UNRELATED) is None
    reply = encoder_bot.reply([UNRELATED], DEFAULT)
    assert reply.text != TAUGHT and reply.source is not ReplySource.CORRECTION


def test_without_a_turn_encoder_the_chat_models_encoder_decides(tiny_pool_model_dir: Path) -> None:
    bot = Chatbot.load(tiny_pool_model_dir, device="cpu")
    memory = CorrectionMemory([Correction(QUESTION, TAUGHT)])
    assert memory.gate(bot) is MODEL_GATE
    memory.lookup(bot, REWORDED)
    assert memory._model is bot.model and bot.similar_turns() is None


def test_the_person_figure_and_exact_checks_stay(encoder_bot: Chatbot) -> None:
    memory = encoder_bot.memory
    assert memory is not None
    for turn in ("how does he earn money?", "how do i earn money?", "how do you earn 5 money?"):
        assert memory.lookup(encoder_bot, turn) is None, turn
    exact = memory.lookup(encoder_bot, "What is your JOB")
    assert exact is not None and exact.exact
    memory.update([Correction(QUESTION, TAUGHT), Correction("What is your job", "i paint.")])
    assert encoder_bot.reply([REWORDED], DEFAULT).text == "i paint."  # the latest wins


@pytest.mark.parametrize("turn", ["?", "👍", "hi", "ok"])
def test_a_short_turn_or_a_symbol_is_answered(encoder_bot: Chatbot, turn: str) -> None:
    """A turn of one piece has no piece bigram: the encoder must still give it a vector."""
    assert encoder_bot.memory is not None
    assert encoder_bot.memory.lookup(encoder_bot, turn) is None
    reply = encoder_bot.reply([turn], DEFAULT)
    assert reply.text.strip() and reply.source is not ReplySource.CORRECTION


def test_a_question_that_names_no_one_asks_about_you() -> None:
    assert unnamed_asks_you("any siblings?", "do you have any siblings?")
    assert unnamed_asks_you("do you have any siblings?", "any siblings?")
    assert not unnamed_asks_you("siblings are great", "do you have any siblings?")  # no question
    assert not unnamed_asks_you("any siblings?", "does he have any siblings?")
    assert not unnamed_asks_you("how do i earn money?", "what is your job?")  # "i" is someone
    assert not unnamed_asks_you("any 2 siblings?", "do you have any siblings?")
    assert MODEL_GATE.unnamed > 1.0  # the chat model's encoder is not trusted with it


def test_the_prompt_vectors_are_the_turn_encoders(encoder_bot: Chatbot) -> None:
    memory = encoder_bot.memory
    assert memory is not None
    memory.lookup(encoder_bot, REWORDED)
    similar = encoder_bot.similar_turns()
    assert similar is not None and memory._model is similar.encoder
    expected = similar.encoder.encode([QUESTION])[0]
    assert torch.allclose(memory._vectors[QUESTION.rstrip("?")], expected, atol=1e-5)
