"""Batching: every example once, within the token budget, little padding, exact collation."""

from __future__ import annotations

import random

import torch

from engine.batching import collate, make_batches
from engine.tokenizer import BOS_ID, EOS_ID, PAD_ID


def random_examples(count: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    return [
        (
            [rng.randrange(5, 50) for _ in range(rng.randint(1, 60))],
            [*[rng.randrange(5, 50) for _ in range(rng.randint(0, 30))], EOS_ID],
        )
        for _ in range(count)
    ]


def padded_size(encoded: list, batch: list[int]) -> int:
    longest_source = max(len(encoded[i][0]) for i in batch)
    longest_target = max(len(encoded[i][1]) for i in batch)
    return len(batch) * (longest_source + longest_target)


def test_every_example_once_within_the_budget() -> None:
    encoded = random_examples(2000)
    for shuffle in (False, True):
        batches = make_batches(encoded, max_tokens=1500, shuffle=shuffle, seed=3)
        assert sorted(i for batch in batches for i in batch) == list(range(2000))
        assert all(padded_size(encoded, batch) <= 1500 for batch in batches)


def test_an_oversized_example_is_a_batch_alone() -> None:
    encoded = [([7] * 300, [8, EOS_ID]), ([7] * 5, [EOS_ID])]
    batches = make_batches(encoded, max_tokens=100, shuffle=False)
    assert sorted(map(sorted, batches)) == [[0], [1]]


def test_little_padding() -> None:
    encoded = random_examples(4000)  # lengths spread evenly: harder to batch than real dialogue
    batches = make_batches(encoded, max_tokens=1500, shuffle=True)
    real = sum(len(s) + len(t) for s, t in encoded)
    padded = sum(padded_size(encoded, batch) for batch in batches)
    assert 1 - real / padded < 0.1


def test_seeded_and_shuffled() -> None:
    encoded = random_examples(500)
    first = make_batches(encoded, max_tokens=800, shuffle=True, seed=1)
    assert first == make_batches(encoded, max_tokens=800, shuffle=True, seed=1)
    assert first != make_batches(encoded, max_tokens=800, shuffle=True, seed=2)
    assert make_batches(encoded, max_tokens=800, shuffle=False) == make_batches(
        encoded, max_tokens=800, shuffle=False, seed=9
    )


def test_collate() -> None:
    encoded = [([9, 10, 11], [12, 13, EOS_ID]), ([14], [EOS_ID]), ([15, 16], [17, 18])]
    batch = collate(encoded, [0, 1, 2], torch.device("cpu"))
    assert batch.src.tolist() == [[9, 10, 11], [14, PAD_ID, PAD_ID], [15, 16, PAD_ID]]
    assert batch.src_lengths.tolist() == [3, 1, 2]
    assert batch.target_out.tolist() == [[12, 13, EOS_ID], [EOS_ID, PAD_ID, PAD_ID], [17, 18, 0]]
    assert batch.target_in.tolist() == [[BOS_ID, 12, 13], [BOS_ID, 0, 0], [BOS_ID, 17, 0]]
    assert batch.target_tokens == 3 + 1 + 2 and batch.source_tokens == 6
