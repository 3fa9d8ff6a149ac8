"""`rerank`: N sampled candidates in one batch, rescored by MMI with a backward model or the
anti-LM stand-in; and the backward direction of `train` that makes the backward model."""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import pytest
import torch

from engine import Chatbot
from engine.batching import collate
from engine.checkpoint import load_checkpoint
from engine.data import Example, backward_examples
from engine.decoding.config import DecodeConfig
from engine.decoding.rerank import (
    ANTI_LM,
    ANTI_LM_SHORTLIST,
    ANTI_LM_WEIGHT_SCALE,
    BACKWARD,
    MARGINAL_CONTEXTS,
    _anti_lm_terms,
    pair_log_probs,
    unique_candidates,
)
from engine.decoding.strategies import Hypothesis, MultiSample
from engine.errors import ConfigError
from engine.tokenizer import BOS_ID, EOS_ID
from tests.engine.fakes import bigram_table
from tests.engine.test_strategies import drive

CPU = torch.device("cpu")
RERANK = DecodeConfig(strategy="rerank", candidates=8, temperature=0.8, seed=5)


@pytest.fixture
def bot_with_backward(tiny_model_with_backward_dir: Path) -> Path:
    return tiny_model_with_backward_dir


# --- the strategy on made-up log-probabilities -------------------------------------------------


def test_multi_sample_fans_out_and_each_row_ends_on_its_own() -> None:
    table = bigram_table(12, 0)
    strategy = MultiSample(count=6, generator=torch.Generator().manual_seed(0))
    first = strategy.advance(table[[BOS_ID]])
    assert first.tolist() == [0] * 6 and strategy.rows == 6
    results = drive(strategy, table, 30)
    assert len(results) == 6
    assert len({tuple(h.tokens) for h in results}) > 1  # independent draws
    for hypothesis in results:
        tokens = [BOS_ID, *hypothesis.tokens, *([EOS_ID] if hypothesis.finished else [])]
        log_prob = sum(float(table[a, b]) for a, b in itertools.pairwise(tokens))
        assert math.isclose(hypothesis.score, log_prob, rel_tol=1e-5)  # as drawn
        assert EOS_ID not in hypothesis.tokens


def test_multi_sample_is_reproducible_with_a_seed() -> None:
    table = bigram_table(12, 3)
    runs = [
        [h.tokens for h in drive(MultiSample(count=5, generator=torch.Generator().manual_seed(9)),
                                 table, 20)]
        for _ in range(2)
    ]  # fmt: skip
    assert runs[0] == runs[1]


def test_unique_candidates_drop_repeats_and_empty_replies() -> None:
    hypotheses = [Hypothesis(tokens, 0.0, 0.0, True) for tokens in ([5], [], [6, 7], [5], [6, 7])]
    assert [index for index, _ in unique_candidates(hypotheses)] == [0, 2]


# --- scoring --------------------------------------------------------------------------------


def test_pair_log_probs_equal_the_models_own_loss(tiny_bot: Chatbot) -> None:
    tokenizer = tiny_bot.tokenizer
    sources = [tokenizer.encode("hello"), tokenizer.encode("how are you doing today")]
    targets = [[*tokenizer.encode("hi there"), EOS_ID], [*tokenizer.encode("fine"), EOS_ID]]
    scores = pair_log_probs(tiny_bot.model, sources, targets, torch.device("cpu"))
    for source, target, score in zip(sources, targets, scores):
        batch = collate([(source, target)], [0], torch.device("cpu"))
        with torch.inference_mode():
            nll = tiny_bot.model.loss(batch.src, batch.src_lengths, batch.target_in,
                                      batch.target_out, reduction="sum")  # fmt: skip
        assert math.isclose(score, -float(nll), rel_tol=1e-4)


def test_rerank_without_backward_uses_anti_lm(tiny_bot: Chatbot) -> None:
    assert tiny_bot.backward is None and tiny_bot.mmi_scorer == ANTI_LM
    reply = tiny_bot.reply(["hello"], RERANK)
    assert reply.scorer == ANTI_LM and reply.text
    ranks = [(alternative.finished, alternative.score) for alternative in reply.alternatives]
    assert ranks == sorted(ranks, reverse=True)  # finished replies first, each part by score
    assert len({a.text for a in reply.alternatives}) == len(reply.alternatives)
    assert reply.alternatives[0].text == reply.text
    for alternative in reply.alternatives:
        assert alternative.forward_score is not None and alternative.mmi_score is not None
        weight = RERANK.mmi_weight * ANTI_LM_WEIGHT_SCALE  # λ counts a tenth for the stand-in
        expected = alternative.forward_score + weight * alternative.mmi_score
        assert math.isclose(alternative.score, expected, rel_tol=1e-6, abs_tol=1e-9)
    assert len(reply.attention) == len(reply.tokens)


def test_rerank_is_deterministic_with_a_seed(tiny_bot: Chatbot) -> None:
    first = tiny_bot.reply(["what is your name?"], RERANK)
    second = tiny_bot.reply(["what is your name?"], RERANK)
    assert first.text == second.text
    assert [a.text for a in first.alternatives] == [a.text for a in second.alternatives]
    assert first.seed == 5


def test_weight_zero_picks_the_likeliest_candidate(tiny_bot: Chatbot) -> None:
    reply = tiny_bot.reply(["hello"], RERANK.replace(mmi_weight=0.0, temperature=2.0))
    best = max(reply.alternatives, key=lambda a: a.forward_score or -math.inf)
    assert reply.text == best.text


def test_rerank_with_a_backward_model(bot_with_backward: Path) -> None:
    bot = Chatbot.load(bot_with_backward, device="cpu")
    assert bot.backward is not None and bot.mmi_scorer == BACKWARD
    reply = bot.reply(["hello"], RERANK.replace(mmi_weight=1.0))
    assert reply.scorer == BACKWARD and reply.text
    # The backward term is log p(last turn | reply) per token: never positive.
    assert all(a.mmi_score is not None and a.mmi_score <= 0 for a in reply.alternatives)


def test_anti_lm_weight_holds_back_replies_likely_after_anything(bot_with_backward: Path) -> None:
    bot = Chatbot.load(bot_with_backward, device="cpu")
    config = RERANK.replace(mmi_weight=1.0, temperature=2.0, anti_lm_weight=1.5)
    reply = bot.reply(["hello"], config)
    best = reply.alternatives[0]
    assert best.text == reply.text and best.forward_score is not None and best.mmi_score is not None
    # Its score: forward + λ · backward term + γ · (−mean log p(reply | neutral openers) / length).
    tokens = [[*reply.tokens, EOS_ID]]
    neutral = _anti_lm_terms(bot.model, bot.tokenizer, tokens, CPU, MARGINAL_CONTEXTS)
    expected = best.forward_score + 1.0 * best.mmi_score + 1.5 * neutral[0]
    assert math.isclose(best.score, expected, rel_tol=1e-4, abs_tol=1e-4)
    # The best few by MMI get the term (positive: the rarer anywhere, the more credit), the
    # rest keep their MMI score and follow.
    mmi = [a.forward_score + 1.0 * a.mmi_score for a in reply.alternatives]
    shortlist = min(ANTI_LM_SHORTLIST, len(mmi))
    for alternative, plain in zip(reply.alternatives[:shortlist], mmi):
        assert alternative.score > plain
    for alternative, plain in zip(reply.alternatives[shortlist:], mmi[shortlist:]):
        assert math.isclose(alternative.score, plain, rel_tol=1e-6, abs_tol=1e-9)
    by_mmi = [(a.finished, plain) for a, plain in zip(reply.alternatives, mmi)]
    assert min(by_mmi[:shortlist]) >= max(by_mmi[shortlist:], default=(False, -math.inf))
    ranks = [(alternative.finished, alternative.score) for alternative in reply.alternatives]
    assert ranks == sorted(ranks, reverse=True)


def test_a_reply_cut_at_the_length_limit_ranks_below_every_finished_one(tiny_bot: Chatbot):
    # Short replies only, so that some candidates end and some are cut.
    config = RERANK.replace(candidates=16, temperature=1.5, max_length=10, mmi_weight=2.0)
    reply = tiny_bot.reply(["hello"], config)
    finished = [a.finished for a in reply.alternatives]
    assert any(finished) and not all(finished), "the fixture should give both kinds"
    assert finished == sorted(finished, reverse=True)
    assert reply.alternatives[0].finished and reply.text == reply.alternatives[0].text
    cut = [a.score for a in reply.alternatives if not a.finished]
    assert cut == sorted(cut, reverse=True)


def test_a_forward_model_in_backward_is_refused_with_a_reason(tiny_model_dir, tmp_path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    shutil.copytree(tiny_model_dir, folder / "backward")
    bot = Chatbot.load(folder, device="cpu")
    assert bot.mmi_scorer == ANTI_LM
    assert "forward model" in (bot.backward_problem or "")
    assert bot.reply(["hello"], RERANK).scorer == ANTI_LM


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"candidates": 1}, "candidates"), ({"mmi_weight": -1.0}, "mmi_weight"),
     ({"candidates": 2.5}, "candidates"), ({"anti_lm_weight": 2.5}, "anti_lm_weight")],
)  # fmt: skip
def test_rerank_knobs_are_validated(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RERANK.replace(**changes)


# --- the backward direction -------------------------------------------------------------------


def test_backward_examples_turn_each_pair_around() -> None:
    examples = [Example(("hi", "how are you?"), "fine, thanks", "c1"), Example((), "hello", "c2")]
    assert backward_examples(examples) == [Example(("fine, thanks",), "how are you?", "c1")]


def test_backward_model_keeps_the_forward_tokenizer(bot_with_backward: Path) -> None:
    forward = load_checkpoint(bot_with_backward)
    backward = load_checkpoint(bot_with_backward / "backward")
    assert backward.config.direction == "backward" and forward.config.direction == "forward"
    assert backward.tokenizer.vocab_size == forward.tokenizer.vocab_size
    assert backward.record["initialised_from"]
    assert backward.tokenizer.encode("how are you?") == forward.tokenizer.encode("how are you?")


def test_forward_score_is_the_models_log_prob_of_the_reply(tiny_bot: Chatbot) -> None:
    # Summed while sampling, it must equal a teacher-forced pass over the finished reply.
    reply = tiny_bot.reply(["how are you?"], RERANK.replace(mmi_weight=0.0))
    context, _ = tiny_bot.prepare_context(["how are you?"])
    for alternative in reply.alternatives:
        if not alternative.finished:
            continue
        target = [*tiny_bot.tokenizer.encode(alternative.text), EOS_ID]
        (log_p,) = pair_log_probs(tiny_bot.model, [context], [target], torch.device("cpu"))
        assert math.isclose(alternative.forward_score, log_p / len(target), rel_tol=1e-4)
