"""Log-probability processors on made-up numbers (no model)."""

from __future__ import annotations

import math

import pytest
import torch

from engine.decoding.processors import (
    NgramBlocker,
    apply_temperature,
    ban_tokens,
    block_ngrams,
    ngram_table,
    repetition_penalty,
    top_k_filter,
    top_p_filter,
)

NEG_INF = float("-inf")


def log(probabilities: list[list[float]]) -> torch.Tensor:
    return torch.tensor(probabilities).log()


def kept(log_probs: torch.Tensor) -> list[set[int]]:
    return [set(torch.nonzero(torch.isfinite(row)).flatten().tolist()) for row in log_probs]


def test_top_k() -> None:
    lp = log([[0.1, 0.4, 0.2, 0.3], [0.35, 0.15, 0.45, 0.05]])
    assert kept(top_k_filter(lp, 2)) == [{1, 3}, {0, 2}]
    assert kept(top_k_filter(lp, 1)) == [{1}, {2}]
    assert torch.equal(top_k_filter(lp, 0), lp)  # 0: off
    assert torch.equal(top_k_filter(lp, 4), lp)
    assert torch.equal(top_k_filter(lp, 2)[0, [1, 3]], lp[0, [1, 3]])  # survivors untouched


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0.01, {3}), (0.4, {3}), (0.6, {3, 0}), (0.85, {3, 0, 1}), (0.97, {3, 0, 1, 4}),
     (0.999, {0, 1, 2, 3, 4}), (1.0, {0, 1, 2, 3, 4})],
)  # fmt: skip
def test_top_p_keeps_the_smallest_set_over_p(p: float, expected: set[int]) -> None:
    probabilities = [0.3, 0.1, 0.02, 0.5, 0.08]  # likeliest first: 3, 0, 1, 4, 2
    lp = log([probabilities])
    survivors = kept(top_p_filter(lp, p))[0]
    assert survivors == expected
    # Smallest: the survivors hold at least p, and without the least of them they would not.
    mass = sum(probabilities[i] for i in survivors)
    least = min(probabilities[i] for i in survivors)
    assert mass >= p - 1e-6 or len(survivors) == 5
    assert mass - least < p


def test_top_p_rows_are_independent_and_ignore_banned() -> None:
    lp = log([[0.7, 0.2, 0.1], [0.2, 0.2, 0.6]])
    lp[1, 2] = NEG_INF  # banned already: the rest renormalise among themselves
    assert kept(top_p_filter(lp, 0.6)) == [{0}, {0, 1}]


def test_top_p_always_keeps_the_likeliest() -> None:
    lp = log([[0.96, 0.02, 0.02]])
    assert kept(top_p_filter(lp, 0.01)) == [{0}]


def test_temperature() -> None:
    lp = log([[0.5, 0.25, 0.25]])
    assert torch.equal(apply_temperature(lp, 1.0), lp)
    assert torch.allclose(apply_temperature(lp, 0.5), lp * 2)
    sharper = torch.softmax(apply_temperature(lp, 0.5), -1)
    assert sharper[0, 0] > 0.5


def test_repetition_penalty_lowers_repeated_tokens_only() -> None:
    lp = log([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    out = repetition_penalty(lp, [[3, 3, 1], [], [0]], 1.5)
    assert torch.allclose(
        out[0, [1, 3]], lp[0, [1, 3]] * 1.5
    )  # each said token once, however often
    assert torch.equal(out[0, [0, 2]], lp[0, [0, 2]])
    assert torch.equal(out[1], lp[1])  # nothing said yet
    assert out[2, 0] < lp[2, 0] and torch.equal(out[2, 1:], lp[2, 1:])
    assert torch.equal(repetition_penalty(lp, [[3]], 1.0), lp)  # 1: off
    assert torch.equal(lp, log([[0.1, 0.2, 0.3, 0.4]] * 2 + [[0.25] * 4]))  # input unchanged


def test_repetition_penalty_of_a_certain_token() -> None:
    lp = torch.tensor([[0.0, NEG_INF]])  # log(1): nothing to make less likely
    assert repetition_penalty(lp, [[0]], 2.0)[0, 0] == 0.0


def test_ngram_table() -> None:
    assert ngram_table([5, 6, 7, 5, 6, 8], 3) == {(5, 6): {7, 8}, (6, 7): {5}, (7, 5): {6}}
    assert ngram_table([5, 6], 3) == {}
    assert ngram_table([5, 6, 5], 1) == {(): {5, 6}}


def banned(log_probs: torch.Tensor) -> list[set[int]]:
    return [set(torch.nonzero(torch.isinf(row)).flatten().tolist()) for row in log_probs]


def test_block_ngrams() -> None:
    lp = torch.zeros(4, 10)
    sequences = [[5, 6, 7, 5, 6], [5, 6, 7, 8], [5], []]
    assert banned(block_ngrams(lp, sequences, 3)) == [{7}, set(), set(), set()]
    assert banned(block_ngrams(lp, sequences, 2)) == [{7}, set(), set(), set()]
    assert banned(block_ngrams(lp, sequences, 1)) == [{5, 6, 7}, {5, 6, 7, 8}, {5}, set()]
    assert torch.equal(block_ngrams(lp, sequences, 0), lp)
    assert not torch.isinf(lp).any()  # input unchanged


def test_block_ngrams_with_a_context_table() -> None:
    context = ngram_table([8, 9, 5, 6], 2)  # the user's bigrams: 8 9, 9 5, 5 6
    lp = torch.zeros(3, 10)
    out = block_ngrams(lp, [[7, 8], [7, 5], []], 2, extra_table=context)
    assert banned(out) == [{9}, {6}, set()]


def test_ban_tokens() -> None:
    lp = torch.zeros(2, 6)
    assert banned(ban_tokens(lp, [0, 3])) == [{0, 3}, {0, 3}]
    assert ban_tokens(lp, []) is lp
    assert math.isfinite(float(lp.sum()))


def test_block_ngrams_context_only_lets_a_row_repeat_itself() -> None:
    context = ngram_table([8, 9], 2)
    lp = torch.zeros(2, 10)
    sequences = [[5, 6, 5], [7, 8]]
    assert banned(block_ngrams(lp, sequences, 2, extra_table=context)) == [{6}, {9}]
    only_context = block_ngrams(lp, sequences, 2, extra_table=context, block_own=False)
    assert banned(only_context) == [set(), {9}]


@pytest.mark.parametrize("block_own", [True, False])
def test_ngram_blocker_step_by_step_equals_from_scratch(block_own: bool) -> None:
    # Beam-like forking: each step every new row continues a random earlier row.
    generator = torch.Generator().manual_seed(0)
    for n in (1, 2, 3, 4):
        context = ngram_table([5, 6, 7, 5, 8], n)
        blocker = NgramBlocker(n, extra_table=context, block_own=block_own)
        sequences: list[list[int]] = [[]]
        for _ in range(25):
            rows = int(torch.randint(1, 6, (1,), generator=generator))
            sources = torch.randint(0, len(sequences), (rows,), generator=generator).tolist()
            tokens = torch.randint(5, 9, (rows,), generator=generator).tolist()  # many repeats
            sequences = [[*sequences[s], t] for s, t in zip(sources, tokens)]
            blocker.advance(sources, sequences)
            lp = torch.zeros(rows, 10)
            expected = block_ngrams(lp, sequences, n, extra_table=context, block_own=block_own)
            assert torch.equal(blocker(lp, sequences), expected), (n, sequences)
