"""Decoding for sense (#23 item 4): MMI over beam search's n-best (Li et al. 2016's MMI-bidi)
beside MMI over samples, and the fluency floor that rerank shares with the pool.

The expected orders and terms are computed here from the forward and backward models' own
`loss` on tensors built by hand, not from the engine's scoring code."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch

from engine import Chatbot
from engine.decoding.config import DecodeConfig, decode_preset
from engine.decoding.generate import generate
from engine.errors import ConfigError
from engine.model import Seq2Seq
from engine.sources import ReplySource
from engine.tokenizer import BOS_ID, EOS_ID
from tests.engine.test_rerank_mmi import backward_log_prob_per_token

TURN = "how are you?"
MMI_BEAM = DecodeConfig(
    strategy="rerank", candidate_search="beam", candidates=6, mmi_weight=3.0,
    no_repeat_ngram_size=2, min_length=2, repetition_penalty=1.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def bot(tiny_model_with_backward_dir: Path) -> Chatbot:
    return Chatbot.load(tiny_model_with_backward_dir, device="cpu")


def forward_log_prob_per_token(model: Seq2Seq, bot: Chatbot, reply: str, turn: str) -> float:
    """Mean log p(reply | turn) per token of the reply, eos counted, by one teacher-forced
    pass of the forward model's own loss."""
    source = bot.tokenizer.encode(turn)  # a one-turn context is the turn's own pieces
    target = [*bot.tokenizer.encode(reply), EOS_ID]
    with torch.inference_mode():
        mean_nll = model.loss(
            torch.tensor([source]),
            torch.tensor([len(source)]),
            torch.tensor([[BOS_ID, *target[:-1]]]),
            torch.tensor([target]),
        )
    return -float(mean_nll)


def test_mmi_over_beam_reranks_beam_searchs_whole_n_best(bot: Chatbot) -> None:
    context, user_turn = bot.prepare_context([TURN])
    beam = generate(
        bot.model, bot.tokenizer, context, MMI_BEAM.replace(strategy="beam", beam_size=6, n_best=6),
        user_turn_ids=user_turn,
    )  # fmt: skip
    first = bot.reply([TURN], MMI_BEAM)
    again = bot.reply([TURN], MMI_BEAM.replace(seed=123))  # no sampling: the seed changes nothing
    texts = [alternative.text for alternative in first.alternatives]
    assert texts == [alternative.text for alternative in again.alternatives]
    assert first.seed is None and again.seed is None
    # Every hypothesis of a beam of `candidates`, each once, none other.
    assert len(texts) == len(set(texts)) == MMI_BEAM.candidates
    assert sorted(texts) == sorted(beam.texts)
    for hypothesis in beam.hypotheses:
        assert len(hypothesis.tokens) >= MMI_BEAM.min_length
        bigrams = list(itertools.pairwise(hypothesis.tokens))
        assert len(bigrams) == len(set(bigrams)), hypothesis.tokens  # no repeated 2-gram


def test_mmi_over_beam_orders_the_n_best_by_forward_plus_backward(bot: Chatbot) -> None:
    reply = bot.reply([TURN], MMI_BEAM)
    expected = []
    for alternative in reply.alternatives:
        assert alternative.finished  # max_length 32: every tiny-model reply ends
        forward = forward_log_prob_per_token(bot.model, bot, alternative.text, TURN)
        backward = backward_log_prob_per_token(bot, alternative.text, TURN)
        assert math.isclose(alternative.forward_score, forward, rel_tol=1e-4, abs_tol=1e-5)
        assert math.isclose(alternative.mmi_score, backward, rel_tol=1e-4, abs_tol=1e-5)
        expected.append((forward + MMI_BEAM.mmi_weight * backward, alternative.text))
    expected.sort(reverse=True)
    assert [a.text for a in reply.alternatives] == [text for _, text in expected]
    assert reply.text == expected[0][1]
    # The backward model decides: at λ 0 the beam's likeliest wins, and here another does.
    likeliest = bot.reply([TURN], MMI_BEAM.replace(mmi_weight=0.0))
    assert likeliest.text != reply.text


def test_beam_candidates_forward_term_is_the_models_own_despite_a_repetition_penalty(
    bot: Chatbot,
) -> None:
    # The penalty steers the search; MMI's forward term stays log p(reply | context).
    reply = bot.reply([TURN], MMI_BEAM.replace(repetition_penalty=2.0))
    for alternative in reply.alternatives:
        forward = forward_log_prob_per_token(bot.model, bot, alternative.text, TURN)
        assert math.isclose(alternative.forward_score, forward, rel_tol=1e-4, abs_tol=1e-5)


@pytest.mark.parametrize("search", ["sample", "beam"])
def test_the_fluency_floor_drops_candidates_far_less_likely_than_the_best(
    bot: Chatbot, search: str
) -> None:
    config = MMI_BEAM.replace(
        candidate_search=search, candidates=12, temperature=2.0, top_k=0, top_p=1.0, seed=3
    )
    everything = bot.reply([TURN], config).alternatives
    forwards = sorted(a.forward_score for a in everything)
    best, worst = forwards[-1], forwards[0]
    floor = (best - worst) / 2
    kept = bot.reply([TURN], config.replace(fluency_floor=floor)).alternatives
    assert {a.text for a in kept} == {a.text for a in everything if a.forward_score >= best - floor}
    assert worst not in {a.forward_score for a in kept}  # the least fluent one is gone
    assert len(kept) < len(everything)


def test_the_pool_can_take_the_models_candidates_from_beam_search(tiny_pool_model_dir: Path):
    bot = Chatbot.load(tiny_pool_model_dir, device="cpu")
    config = decode_preset("balanced").replace(candidate_search="beam", candidates=4)
    reply = bot.reply([TURN], config)
    context, user_turn = bot.prepare_context([TURN])
    beam = generate(
        bot.model, bot.tokenizer, context, config.replace(strategy="beam", beam_size=4, n_best=4),
        user_turn_ids=user_turn,
    )  # fmt: skip
    models = {a.text for a in reply.alternatives if a.source is ReplySource.MODEL}
    # Beside replies people wrote (which win a shared text), the beam's n-best; no seed used.
    assert models and models <= set(beam.texts)
    assert reply.seed is None


def test_candidate_search_takes_sample_or_beam_only() -> None:
    with pytest.raises(ConfigError, match="candidate_search must be one of sample, beam"):
        DecodeConfig(strategy="rerank", candidate_search="nucleus")
    saved = DecodeConfig(strategy="rerank").to_dict()
    del saved["candidate_search"]  # settings saved before the knob existed
    assert DecodeConfig.from_dict(saved).candidate_search == "sample"
