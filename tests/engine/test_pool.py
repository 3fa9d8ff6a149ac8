"""The `pool` strategy: the model's samples, replies people wrote and corrections, one scorer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import Chatbot, DecodeConfig
from engine.batching import encode_context
from engine.decoding.pool import PoolEntry, score_pool
from engine.memory import Correction, CorrectionMemory
from engine.sources import ReplySource
from engine.tokenizer import BOS_ID, EOS_ID

POOL = DecodeConfig(strategy="pool", candidates=4, retrieved=8, seed=3, mmi_weight=2.0)


@pytest.fixture
def bot(tiny_pool_model_dir: Path) -> Chatbot:
    return Chatbot.load(tiny_pool_model_dir, device="cpu")


def teacher_forced(model: torch.nn.Module, source: list[int], target: list[int]) -> float:
    """log p(target | source) per token, computed here from the model's own loss."""
    target = [*target, EOS_ID]
    with torch.no_grad():
        loss = model.loss(
            torch.tensor([source]),
            torch.tensor([len(source)]),
            torch.tensor([[BOS_ID, *target[:-1]]]),
            torch.tensor([target]),
        )
    return -float(loss)


def test_each_candidate_is_scored_on_one_scale(bot: Chatbot) -> None:
    turn, reply, earlier = "what is your name?", "i like green tea very much.", ("hi", "hello!")
    context = encode_context(bot.tokenizer, [turn], bot.config)
    own = encode_context(bot.tokenizer, [*earlier, "do you drink tea?"], bot.config)
    entry = PoolEntry(
        reply, tuple(bot.tokenizer.encode(reply)), ReplySource.CORPUS, "small conversation c1",
        similarity=0.4, own_turns=(*earlier, "do you drink tea?"),
    )  # fmt: skip
    config = POOL.replace(mmi_weight=3.0, match_weight=2.0, own_context_weight=1.5)
    [scored] = score_pool(
        [entry], model=bot.model, backward=bot.backward, tokenizer=bot.tokenizer,
        context=context, last_turn=turn, config=config, device=bot.device,
    )  # fmt: skip
    forward = teacher_forced(bot.model, context, list(entry.tokens))
    own_forward = teacher_forced(bot.model, own, list(entry.tokens))
    reply_as_source = encode_context(bot.tokenizer, [reply], bot.backward.config)
    backward = teacher_forced(bot.backward, reply_as_source, bot.tokenizer.encode(turn))
    expected = forward + 3.0 * backward + 2.0 * (0.4 - 1.0) + 1.5 * min(0.0, forward - own_forward)
    assert scored.forward == pytest.approx(forward, abs=1e-4)
    assert scored.mmi == pytest.approx(backward, abs=1e-4)
    assert scored.own_forward == pytest.approx(own_forward, abs=1e-4)
    assert scored.score == pytest.approx(expected, abs=1e-3)


def test_the_offset_decides_between_the_models_replies_and_peoples(bot: Chatbot) -> None:
    turn = "do you like music?"
    context = encode_context(bot.tokenizer, [turn], bot.config)
    entries = [
        PoolEntry(text, tuple(bot.tokenizer.encode(text)), source)
        for text, source in (("yes, i love jazz.", ReplySource.CORPUS),
                             ("i like to read books.", ReplySource.MODEL))
    ]  # fmt: skip

    def best(offset: float) -> ReplySource:
        ranked = score_pool(
            entries, model=bot.model, backward=bot.backward, tokenizer=bot.tokenizer,
            context=context, last_turn=turn, config=POOL.replace(generated_offset=offset),
            device=bot.device,
        )  # fmt: skip
        return ranked[0].entry.source

    assert (best(-10.0), best(10.0)) == (ReplySource.CORPUS, ReplySource.MODEL)


def test_a_pooled_reply_says_where_each_candidate_came_from(bot: Chatbot) -> None:
    # Hot samples, so the tiny model writes replies its corpus does not have.
    wild = POOL.replace(generated_offset=-10.0, temperature=3.0, top_k=0, top_p=1.0)
    people = bot.reply(["how are you?"], wild)
    assert people.source is ReplySource.CORPUS
    assert people.origin.startswith("small conversation ")
    sources = {alternative.source for alternative in people.alternatives}
    assert sources == {ReplySource.CORPUS, ReplySource.MODEL}
    assert people.alternatives[0].text == people.text
    scores = [a.score for a in people.alternatives if a.finished]
    assert scores == sorted(scores, reverse=True)


def test_the_same_turn_and_seed_give_the_same_reply(bot: Chatbot) -> None:
    first = bot.reply(["do you like music?"], POOL)
    again = bot.reply(["do you like music?"], POOL)
    assert (first.text, first.source) == (again.text, again.source)


@pytest.mark.parametrize("turn", ["?", "👍", "!!!"])
def test_a_turn_of_only_punctuation_or_emoji_is_answered(bot: Chatbot, turn: str) -> None:
    reply = bot.reply([turn], POOL)
    assert reply.text.strip()
    assert reply.source is ReplySource.MODEL  # nothing to retrieve: the model answers


def test_a_model_with_another_tokenizer_and_no_index_pools_its_own_replies(tiny_bot: Chatbot):
    assert tiny_bot.index is None and "replies.sqlite" in (tiny_bot.index_problem or "")
    reply = tiny_bot.reply(["hello"], POOL)
    assert reply.text and reply.source is ReplySource.MODEL


# --- corrections: the pool's first source ---------------------------------------------------------

TAUGHT = "my name is ada."


def teach(bot: Chatbot, *corrections: tuple[str, str]) -> None:
    bot.memory = CorrectionMemory([Correction(prompt, reply) for prompt, reply in corrections])


def test_a_correction_answers_its_own_question_from_the_pool(bot: Chatbot) -> None:
    teach(bot, ("what is your name?", TAUGHT))
    reply = bot.reply(["What is your NAME"], POOL)
    assert (reply.text, reply.source) == (TAUGHT, ReplySource.CORRECTION)
    assert reply.memory is not None and reply.memory.chosen
    assert reply.alternatives[0].source is ReplySource.CORRECTION


def test_a_question_about_someone_else_does_not_get_the_taught_reply(bot: Chatbot) -> None:
    teach(bot, ("what is your name?", TAUGHT), ("how old are you?", "i am 12 years old."))
    for turn in ("what is my name?", "how old are they?"):
        reply = bot.reply([turn], POOL)
        assert reply.source is not ReplySource.CORRECTION, turn
        assert all(a.source is not ReplySource.CORRECTION for a in reply.alternatives)


def test_symbols_and_digits_tell_questions_apart(bot: Chatbot) -> None:
    teach(bot, ("what is 2+2", "four, of course."))
    assert bot.reply(["what is 2+2?"], POOL).text == "four, of course."
    other = bot.reply(["what is 22"], POOL)
    assert other.text != "four, of course." or other.source is not ReplySource.CORRECTION


def test_the_latest_correction_of_a_question_wins(bot: Chatbot) -> None:
    teach(bot, ("what is your name?", "my name is bob."), ("what is your name?", TAUGHT))
    assert bot.reply(["what is your name?"], POOL).text == TAUGHT


def test_the_lazy_own_context_penalty_picks_what_penalising_every_candidate_would(
    bot: Chatbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.decoding.pool as pool

    config = POOL.replace(retrieved=32, own_context_weight=4.0, generated_offset=-10.0)
    for turn in ("how are you?", "what is your name?", "do you like music?", "hello"):
        monkeypatch.setattr(pool, "LEANING_BATCH", 1)  # one candidate at a time, best first
        lazy = bot.reply([turn], config)
        monkeypatch.setattr(pool, "LEANING_BATCH", 1000)  # every candidate at once
        full = bot.reply([turn], config)
        monkeypatch.undo()
        assert (lazy.text, lazy.alternatives[0].score) == (
            full.text,
            pytest.approx(full.alternatives[0].score),
        )


def test_regenerate_gets_another_candidate_when_the_pick_does_not_depend_on_the_seed(
    bot: Chatbot,
) -> None:
    first = bot.reply(["how are you?"], POOL)
    again = bot.reply(["how are you?"], POOL, avoid=[first.text])
    assert again.text != first.text and again.text == first.alternatives[1].text
    assert again.source is first.alternatives[1].source
    third = bot.reply(["how are you?"], POOL, avoid=[first.text.upper(), again.text])
    assert third.text not in (first.text, again.text)
    beam = DecodeConfig(strategy="beam", beam_size=4, n_best=4)
    best = bot.reply(["hello"], beam)
    other = bot.reply(["hello"], beam, avoid=[best.text])
    assert other.text == best.alternatives[1].text
