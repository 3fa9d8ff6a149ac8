"""The one generation loop: encode once, then step -> process -> strategy.advance -> reorder.

Every strategy runs through `generate`; greedy and sampling stream text through `on_token`,
and every strategy polls `should_stop` once per step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from engine.decoding.config import DecodeConfig
from engine.decoding.processors import ban_tokens, block_ngrams, ngram_table, repetition_penalty
from engine.decoding.strategies import BeamSearch, GreedySearch, Hypothesis
from engine.model import Seq2Seq
from engine.tokenizer import BOS_ID, EOS_ID, PAD_ID, SEP_ID, UNK_ID, Tokenizer

TokenCallback = Callable[[str], None]
StopCallback = Callable[[], bool]
ALWAYS_BANNED = (PAD_ID, BOS_ID, SEP_ID, UNK_ID)


@dataclass
class Generation:
    hypotheses: list[Hypothesis]  # best first; one for greedy and sampling
    attention: list[list[list[float]]]  # per hypothesis: (reply tokens, context tokens)
    cancelled: bool
    seed: int | None
    first_token_s: float | None  # seconds from start to the first streamed text (or first step)
    total_s: float
    steps: int
    texts: list[str] = field(default_factory=list)


def make_strategy(config: DecodeConfig, seed: int | None) -> GreedySearch | BeamSearch:
    if config.strategy == "beam":
        return BeamSearch(
            beam_size=config.beam_size, n_best=config.n_best, length_penalty=config.length_penalty
        )
    generator = None
    if config.strategy == "sample":
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
    return GreedySearch(
        sample=config.strategy == "sample",
        temperature=config.temperature,
        top_k=config.top_k,
        top_p=config.top_p,
        generator=generator,
    )


class _Streamer:
    """Calls `on_token` with the text so far whenever it grows by whole characters."""

    def __init__(self, tokenizer: Tokenizer, on_token: TokenCallback | None) -> None:
        self.tokenizer, self.on_token = tokenizer, on_token
        self.last_text = ""

    def update(self, tokens: Sequence[int]) -> bool:
        text = self.tokenizer.decode(tokens)
        # A byte-fallback piece may end mid-character: wait for the rest of it.
        if text == self.last_text or text.endswith("\ufffd"):
            return False
        self.last_text = text
        if self.on_token is not None:
            self.on_token(text)
        return True


@torch.inference_mode()
def generate(
    model: Seq2Seq,
    tokenizer: Tokenizer,
    context_ids: Sequence[int],
    config: DecodeConfig,
    *,
    user_turn_ids: Sequence[int] = (),
    on_token: TokenCallback | None = None,
    should_stop: StopCallback | None = None,
    device: torch.device | None = None,
) -> Generation:
    started = time.perf_counter()
    device = device or next(model.parameters()).device
    seed = config.seed
    if config.strategy == "sample" and seed is None:
        seed = random.SystemRandom().randrange(2**31)
    strategy = make_strategy(config, seed)
    streaming = config.strategy != "beam"
    streamer = _Streamer(tokenizer, on_token)
    context_table = (
        ngram_table(list(user_turn_ids), config.block_context_ngrams)
        if config.block_context_ngrams
        else None
    )
    blank_piece = tokenizer.blank_ids()
    src = torch.tensor([list(context_ids)], dtype=torch.long, device=device)
    memory, hidden = model.encode(src, torch.tensor([len(context_ids)]))
    inputs = torch.full((1,), BOS_ID, dtype=torch.long, device=device)
    attention_steps: list[torch.Tensor] = []
    first_token_s = None
    cancelled = False
    step = 0
    for step in range(config.max_length):
        if should_stop is not None and should_stop():
            cancelled = True
            break
        rows = strategy.rows
        row_memory = (
            memory
            if rows == memory.outputs.size(0)
            else memory.index_select(torch.zeros(rows, dtype=torch.long, device=device))
        )  # every row reads the same context, so any row of it will do
        log_probs, hidden, weights = model.step(inputs, hidden, row_memory)  # (K, V), (L, K, H)
        attention_steps.append(weights.float().cpu())
        log_probs = _process(
            log_probs, strategy.sequences, config, step, context_table, blank_piece
        )
        reorder = strategy.advance(log_probs)
        if first_token_s is None and (not streaming or strategy.done):
            first_token_s = time.perf_counter() - started
        if strategy.done:
            break
        hidden = hidden.index_select(1, reorder)
        inputs = torch.tensor(strategy.next_input(), dtype=torch.long, device=device)
        if streaming and streamer.update(strategy.sequences[0]) and first_token_s is None:
            first_token_s = time.perf_counter() - started
    hypotheses = strategy.results()
    texts = [tokenizer.decode(hypothesis.tokens) for hypothesis in hypotheses]
    if streaming and texts and texts[0] != streamer.last_text and on_token is not None:
        on_token(texts[0])
    return Generation(
        hypotheses=hypotheses,
        attention=[_attention_of(hypothesis, attention_steps) for hypothesis in hypotheses],
        cancelled=cancelled,
        seed=seed if config.strategy == "sample" else None,
        first_token_s=first_token_s,
        total_s=time.perf_counter() - started,
        steps=step + 1,
        texts=texts,
    )


def _process(
    log_probs: torch.Tensor,
    sequences: Sequence[Sequence[int]],
    config: DecodeConfig,
    step: int,
    context_table: dict[tuple[int, ...], set[int]] | None,
    blank_piece: Sequence[int],
) -> torch.Tensor:
    banned = list(ALWAYS_BANNED)
    if step < config.min_length:
        banned.append(EOS_ID)
    if step == 0:
        banned.extend(blank_piece)
    log_probs = ban_tokens(log_probs, banned)
    log_probs = repetition_penalty(log_probs, sequences, config.repetition_penalty)
    if config.no_repeat_ngram_size:
        log_probs = block_ngrams(log_probs, sequences, config.no_repeat_ngram_size)
    if context_table:
        log_probs = block_ngrams(
            log_probs, sequences, config.block_context_ngrams, extra_table=context_table
        )
    return log_probs


def _attention_of(hypothesis: Hypothesis, steps: list[torch.Tensor]) -> list[list[float]]:
    """The attention row of each reply token, following the beam it came through."""
    rows = hypothesis.rows[: len(hypothesis.tokens)]
    return [steps[index][row].tolist() for index, row in enumerate(rows)]
