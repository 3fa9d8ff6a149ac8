"""Greedy, sampling and beam search on crafted log-probabilities: no model involved."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from engine.decoding.strategies import BeamSearch, GreedySearch, Hypothesis, MultiSample
from engine.tokenizer import BOS_ID, EOS_ID
from tests.engine.fakes import bigram_table


def drive(
    strategy: GreedySearch | BeamSearch | MultiSample, table: torch.Tensor, max_length: int
) -> list:
    """The generation loop in miniature: the next log-probs depend on each row's last token."""
    for _ in range(max_length):
        last = [sequence[-1] if sequence else BOS_ID for sequence in strategy.sequences]
        strategy.advance(table[last])
        if strategy.done:
            break
    return strategy.results()


def path_log_prob(table: torch.Tensor, hypothesis: Hypothesis) -> float:
    tokens = [BOS_ID, *hypothesis.tokens] + ([EOS_ID] if hypothesis.finished else [])
    return sum(float(table[a, b]) for a, b in itertools.pairwise(tokens))


def gnmt(score: float, length: int, alpha: float) -> float:
    return score / (((5 + length) / 6) ** alpha)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0, 2.0])
@pytest.mark.parametrize("seed", range(4))
def test_beam_search_finds_the_exhaustive_n_best(alpha: float, seed: int) -> None:
    # Two content tokens and max_length 4: 15 possible finished replies, fewer than the beam,
    # so nothing is pruned and beam search must return exactly the exhaustive top 5.
    table = bigram_table(8, seed, content=[5, 6])
    results = drive(BeamSearch(beam_size=16, n_best=5, length_penalty=alpha), table, 4)
    everything = []
    for length in range(4):
        for tokens in itertools.product([5, 6], repeat=length):
            hypothesis = Hypothesis(list(tokens), 0.0, 0.0, True)
            log_prob = path_log_prob(table, hypothesis)
            everything.append((gnmt(log_prob, length + 1, alpha), list(tokens), log_prob))
    everything.sort(key=lambda item: item[0], reverse=True)
    assert [h.tokens for h in results] == [tokens for _, tokens, _ in everything[:5]]
    for hypothesis, (score, _, log_prob) in zip(results, everything):
        assert hypothesis.finished
        assert math.isclose(hypothesis.score, score, rel_tol=1e-5)
        assert math.isclose(hypothesis.log_prob, log_prob, rel_tol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_beam_results_are_sorted_and_follow_their_paths(seed: int) -> None:
    table = bigram_table(14, seed)
    beam = BeamSearch(beam_size=4, n_best=4, length_penalty=1.0)
    results = drive(beam, table, 8)
    assert len(results) == 4
    scores = [h.score for h in results]
    assert scores == sorted(scores, reverse=True)
    for hypothesis in results:
        assert len(hypothesis.tokens) <= 8
        assert EOS_ID not in hypothesis.tokens
        # The bookkeeping (reordering beams, summing scores) matches the tokens' own path.
        assert math.isclose(hypothesis.log_prob, path_log_prob(table, hypothesis), rel_tol=1e-5)
        length = len(hypothesis.tokens) + int(hypothesis.finished)
        assert math.isclose(hypothesis.score, gnmt(hypothesis.log_prob, length, 1.0), rel_tol=1e-6)
        assert len(hypothesis.rows) == len(hypothesis.tokens) + int(hypothesis.finished)


@pytest.mark.parametrize("seed", range(10))
def test_beam_of_one_is_greedy(seed: int) -> None:
    table = bigram_table(20, seed)
    beam = drive(BeamSearch(beam_size=1, n_best=1, length_penalty=1.0), table, 12)
    greedy = drive(GreedySearch(), table, 12)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    assert beam[0].finished == greedy[0].finished
    assert math.isclose(beam[0].log_prob, greedy[0].log_prob, rel_tol=1e-6)


def test_beam_stops_once_beam_size_replies_have_finished() -> None:
    table = torch.full((8, 8), -1e9)
    table[:, EOS_ID] = math.log(0.6)
    table[:, 5] = math.log(0.3)
    table[:, 6] = math.log(0.1)
    beam = BeamSearch(beam_size=3, n_best=2, length_penalty=0.0)
    results = drive(beam, table, 50)
    assert beam.done
    assert len(beam.finished) >= 3
    assert [h.tokens for h in results] == [[], [5]]  # 0.6 beats 0.3 * 0.6


def test_live_beams_fill_in_when_too_few_finish() -> None:
    table = bigram_table(10, 0, content=[5, 6, 7])
    table[:, EOS_ID] = float("-inf")  # nothing can finish
    results = drive(BeamSearch(beam_size=3, n_best=3, length_penalty=1.0), table, 5)
    assert len(results) == 3
    assert all(not h.finished and len(h.tokens) == 5 for h in results)


def test_greedy_takes_the_argmax_and_stops_at_eos() -> None:
    table = torch.full((8, 8), -10.0)
    table[BOS_ID, 6] = -0.1
    table[6, 7] = -0.2
    table[7, EOS_ID] = -0.3
    greedy = GreedySearch()
    results = drive(greedy, table, 10)
    assert greedy.done
    assert results[0].tokens == [6, 7] and results[0].finished
    assert math.isclose(results[0].log_prob, -0.6, rel_tol=1e-6)


def test_sampling_with_top_k_one_is_greedy() -> None:
    for seed in range(5):
        table = bigram_table(30, seed)
        generator = torch.Generator().manual_seed(seed)
        sampled = drive(
            GreedySearch(sample=True, temperature=2.0, top_k=1, generator=generator), table, 10
        )
        assert sampled[0].tokens == drive(GreedySearch(), table, 10)[0].tokens


def test_sampling_follows_the_distribution() -> None:
    probabilities = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.6, 0.3, 0.1])
    log_probs = probabilities.log().unsqueeze(0)
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(8)
    for _ in range(3000):
        search = GreedySearch(sample=True, generator=generator)
        search.advance(log_probs)
        counts[search.sequences[0][0]] += 1
    assert torch.allclose(counts / 3000, probabilities, atol=0.03)
