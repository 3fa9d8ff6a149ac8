"""Examples to padded tensors, batched by length so little compute is spent on padding."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.config import ModelConfig
from engine.data import Example
from engine.tokenizer import BOS_ID, PAD_ID, SEP_ID, Tokenizer

EncodedExample = tuple[list[int], list[int]]  # (context ids, response ids ending in eos)
TARGET_LENGTH_BUCKET = 4  # batches group target lengths by this, then sort source lengths


@dataclass(frozen=True)
class Batch:
    src: torch.Tensor  # (B, S) context ids, right-padded
    src_lengths: torch.Tensor  # (B,) on the CPU, as packing wants
    target_in: torch.Tensor  # (B, T) bos + response
    target_out: torch.Tensor  # (B, T) response + eos, padded with PAD_ID (ignored by the loss)

    @property
    def target_tokens(self) -> int:
        return int(self.target_out.ne(PAD_ID).sum())

    @property
    def source_tokens(self) -> int:
        return int(self.src_lengths.sum())


def encode_context(
    tokenizer: Tokenizer, turns: Sequence[str], config: ModelConfig, exemplar: str = ""
) -> list[int]:
    """The encoder's input: the last turns, then (for a retrieve-and-refine model, when there
    is one) the exemplar marker and the exemplar, cut to a reply's length. A model that reads
    no exemplar ignores it."""
    ids = tokenizer.encode_context(
        turns[-config.context_turns :], max_tokens=config.max_context_tokens
    )
    ids = ids or [SEP_ID]  # a response with no context still needs one encoder step
    return with_exemplar(ids, tokenizer.encode(exemplar) if exemplar else [], config)


def with_exemplar(context: list[int], exemplar: Sequence[int], config: ModelConfig) -> list[int]:
    """`context`, then the exemplar marker and the exemplar cut to a reply's length, for a
    model that reads exemplars and when there is one; `context` as it is otherwise."""
    if not config.exemplar or not exemplar:
        return context
    return [*context, config.exemplar_id, *exemplar[: config.max_response_tokens]]


def encode_examples(
    examples: Sequence[Example], tokenizer: Tokenizer, config: ModelConfig
) -> list[EncodedExample]:
    return [
        (
            encode_context(tokenizer, example.context, config, example.exemplar),
            tokenizer.encode_response(example.response, max_tokens=config.max_response_tokens),
        )
        for example in examples
    ]


def make_batches(
    encoded: Sequence[EncodedExample], *, max_tokens: int, shuffle: bool, seed: int = 0
) -> list[list[int]]:
    """Index lists of examples of similar lengths, each holding at most `max_tokens` padded
    tokens: examples x (longest source + longest target). An example longer than that is a
    batch of its own."""
    rng = random.Random(seed)
    # Sources and targets are both padded, so both lengths should be alike within a batch.
    # Sorting on the source alone left a quarter of the decoder's positions padding on
    # chitchat; target lengths grouped by fours, then exact source lengths, leave ~3% and ~6%.
    order = sorted(
        range(len(encoded)),
        key=lambda i: (
            len(encoded[i][1]) // TARGET_LENGTH_BUCKET,
            len(encoded[i][0]),
            rng.random() if shuffle else i,
        ),
    )
    batches: list[list[int]] = []
    current: list[int] = []
    longest_source = longest_target = 0
    for index in order:
        source, target = encoded[index]
        source_length = max(longest_source, len(source))
        target_length = max(longest_target, len(target))
        if current and (source_length + target_length) * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, source_length, target_length = [], len(source), len(target)
        current.append(index)
        longest_source, longest_target = source_length, target_length
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


def collate(
    encoded: Sequence[EncodedExample], indices: Sequence[int], device: torch.device
) -> Batch:
    sources = [encoded[i][0] for i in indices]
    targets = [encoded[i][1] for i in indices]
    # Padded as lists, then one tensor each: a tensor per row cost a pool's scoring 3 ms.
    width, target_width = max(map(len, sources)), max(map(len, targets))
    src = torch.tensor(
        [[*source, *[PAD_ID] * (width - len(source))] for source in sources], dtype=torch.long
    )
    target_out = torch.tensor(
        [[*target, *[PAD_ID] * (target_width - len(target))] for target in targets],
        dtype=torch.long,
    )
    target_in = torch.tensor(
        [
            [BOS_ID, *target[:-1], *[PAD_ID] * (target_width - max(len(target), 1))]
            for target in targets
        ],
        dtype=torch.long,
    )
    lengths = torch.tensor([len(source) for source in sources])
    return Batch(src.to(device), lengths, target_in.to(device), target_out.to(device))
