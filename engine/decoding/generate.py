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
from engine.decoding.processors import (
    NEG_INF,
    NgramBlocker,
    ban_tokens,
    ngram_table,
    repetition_penalty,
)
from engine.decoding.strategies import BeamSearch, GreedySearch, Hypothesis, MultiSample
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


SCORED_STRATEGIES = ("rerank", "pool")  # their candidates are scored (MMI) once decoded
STREAMING_STRATEGIES = ("greedy", "sample")  # one row whose text grows as it is decoded


def samples(config: DecodeConfig) -> bool:
    """Whether `config` draws from a seeded generator (and so reports a seed)."""
    if config.strategy in SCORED_STRATEGIES:
        return config.candidate_search == "sample"
    return config.strategy == "sample"


def make_strategy(
    config: DecodeConfig, seed: int | None
) -> GreedySearch | BeamSearch | MultiSample:
    if config.strategy == "beam":
        return BeamSearch(
            beam_size=config.beam_size, n_best=config.n_best, length_penalty=config.length_penalty
        )
    if config.strategy in SCORED_STRATEGIES and config.candidate_search == "beam":
        # MMI-bidi (Li et al. 2016): the scorer reranks beam search's whole n-best, replies
        # that stay fluent, instead of samples.
        return BeamSearch(
            beam_size=config.candidates,
            n_best=config.candidates,
            length_penalty=config.length_penalty,
        )
    generator = None
    if samples(config):
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
    if config.strategy in SCORED_STRATEGIES:
        return MultiSample(
            count=config.candidates,
            temperature=config.temperature,
            top_k=config.top_k,
            top_p=config.top_p,
            generator=generator,
        )
    return GreedySearch(
        sample=config.strategy == "sample",
        temperature=config.temperature,
        top_k=config.top_k,
        top_p=config.top_p,
        generator=generator,
    )


def visible_text(text: str) -> str:
    """Decoded text without U+FFFD: byte-fallback pieces that do not (or not yet) make a whole
    UTF-8 character decode to it, and a reply must never show it."""
    return text.replace("\ufffd", "")


class _Streamer:
    """Calls `on_token` with the text so far whenever it grows by whole characters."""

    def __init__(self, tokenizer: Tokenizer, on_token: TokenCallback | None) -> None:
        self.tokenizer, self.on_token = tokenizer, on_token
        self.last_text = ""

    def update(self, tokens: Sequence[int]) -> bool:
        # A byte-fallback piece may end mid-character: its bytes show once the rest arrives.
        text = visible_text(self.tokenizer.decode(tokens))
        if text == self.last_text:
            return False
        self.last_text = text
        if self.on_token is not None:
            self.on_token(text)
        return True


class _Processors:
    """The log-prob processors of one generation, with the state they carry between steps."""

    def __init__(
        self,
        config: DecodeConfig,
        *,
        blank_piece: Sequence[int],
        user_turn_ids: Sequence[int],
        device: torch.device,
    ) -> None:
        self.config = config
        self.device = device
        self.blank_piece = list(blank_piece)
        self._banned = torch.tensor(ALWAYS_BANNED, dtype=torch.long, device=device)
        self._banned_early = torch.tensor((*ALWAYS_BANNED, EOS_ID), device=device)  # < min_length
        self.blockers: list[NgramBlocker] = []
        if config.no_repeat_ngram_size:
            self.blockers.append(NgramBlocker(config.no_repeat_ngram_size))
        if config.block_context_ngrams:
            table = ngram_table(list(user_turn_ids), config.block_context_ngrams)
            if table:
                self.blockers.append(
                    NgramBlocker(config.block_context_ngrams, extra_table=table, block_own=False)
                )

    def banned_ids(self, step: int) -> torch.Tensor:
        if step < self.config.min_length:
            return self._banned_early
        return self._banned

    def __call__(
        self, log_probs: torch.Tensor, sequences: Sequence[Sequence[int]], step: int
    ) -> torch.Tensor:
        log_probs = ban_tokens(log_probs, self.banned_ids(step))
        if step == 1 and self.blank_piece:
            # A reply may open with the bare word-start piece (before an emoji, a CJK or any
            # character without a piece of its own) but must not end there: it reads as nothing.
            rows = [row for row, tokens in enumerate(sequences) if tokens[0] in self.blank_piece]
            if rows:
                log_probs = log_probs.clone()
                log_probs[rows, EOS_ID] = NEG_INF
        log_probs = repetition_penalty(log_probs, sequences, self.config.repetition_penalty)
        for blocker in self.blockers:
            log_probs = blocker(log_probs, sequences)
        return log_probs

    def advance(self, reorder: torch.Tensor, sequences: Sequence[Sequence[int]]) -> None:
        """After the strategy chose: row i of `sequences` continues row `reorder[i]`."""
        if self.blockers:
            sources = reorder.tolist()
            for blocker in self.blockers:
                blocker.advance(sources, sequences)


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
    if samples(config) and seed is None:
        seed = random.SystemRandom().randrange(2**31)
    strategy = make_strategy(config, seed)
    streaming = config.strategy in STREAMING_STRATEGIES
    streamer = _Streamer(tokenizer, on_token)
    process = _Processors(
        config, blank_piece=tokenizer.blank_ids(), user_turn_ids=user_turn_ids, device=device
    )
    src = torch.tensor([list(context_ids)], dtype=torch.long, device=device)
    memory, hidden = model.encode(src, torch.tensor([len(context_ids)]))
    # Every row reads the same context: repeat it once per row count, not once per step.
    row_memories = {memory.outputs.size(0): memory}
    inputs = torch.full((1,), BOS_ID, dtype=torch.long, device=device)
    attention_steps: list[torch.Tensor] = []  # (K, S) per step, left on the device until the end
    first_token_s = None
    cancelled = False
    for step in range(config.max_length):
        if should_stop is not None and should_stop():
            cancelled = True
            break
        rows = strategy.rows
        if rows not in row_memories:
            row_memories[rows] = memory.index_select(
                torch.zeros(rows, dtype=torch.long, device=device)
            )
        model_log_probs, hidden, weights = model.step(inputs, hidden, row_memories[rows])  # (K, V)
        attention_steps.append(weights)
        log_probs = process(model_log_probs, strategy.sequences, step)
        if isinstance(strategy, BeamSearch):
            reorder = strategy.advance(log_probs, model_log_probs)
        else:
            reorder = strategy.advance(log_probs)
        if isinstance(strategy, MultiSample):
            strategy.add_model_log_probs(model_log_probs)
        if first_token_s is None and (not streaming or strategy.done):
            first_token_s = time.perf_counter() - started
        if strategy.done:
            break
        if streaming and streamer.update(strategy.sequences[0]) and first_token_s is None:
            first_token_s = time.perf_counter() - started
        process.advance(reorder, strategy.sequences)
        hidden = hidden.index_select(1, reorder)
        inputs = torch.tensor(strategy.next_input(), dtype=torch.long, device=device)
    hypotheses = strategy.results()
    texts = [visible_text(tokenizer.decode(hypothesis.tokens)) for hypothesis in hypotheses]
    if streaming and texts and texts[0] != streamer.last_text and on_token is not None:
        on_token(texts[0])
    return Generation(
        hypotheses=hypotheses,
        attention=_attention_of(hypotheses, attention_steps),
        cancelled=cancelled,
        seed=seed if samples(config) else None,
        first_token_s=first_token_s,
        total_s=time.perf_counter() - started,
        steps=len(attention_steps),  # decoder steps taken (none after a stop)
        texts=texts,
    )


def _attention_of(
    hypotheses: Sequence[Hypothesis], steps: list[torch.Tensor]
) -> list[list[list[float]]]:
    """Per hypothesis, the attention row of each reply token, following the beam it came
    through; the steps move to the CPU in one copy (one sync on a GPU, not one per step)."""
    if not steps:
        return [[] for _ in hypotheses]
    every_row = torch.cat(steps).float().cpu()  # (sum of K over steps, S)
    offsets = [0]
    for weights in steps[:-1]:
        offsets.append(offsets[-1] + weights.size(0))
    result = []
    for hypothesis in hypotheses:
        rows = hypothesis.rows[: len(hypothesis.tokens)]
        index = [offsets[step] + row for step, row in enumerate(rows)]
        result.append(every_row[index].tolist())
    return result
