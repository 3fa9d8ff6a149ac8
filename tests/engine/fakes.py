"""Stand-ins for the model and tokenizer, so decoding is tested on crafted log-probabilities."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from engine.model import Memory
from engine.tokenizer import BOS_ID, EOS_ID, PAD_ID, SEP_ID, UNK_ID

NEG_INF = float("-inf")
SPECIALS = (PAD_ID, BOS_ID, SEP_ID, UNK_ID)


def bigram_table(vocab: int, seed: int, *, content: Sequence[int] | None = None) -> torch.Tensor:
    """(V, V) random next-token log-probs given the last token; only `content` ids and eos can
    follow (all of them when `content` is None), the ids generation always bans get -inf."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(vocab, vocab, generator=generator) * 2
    allowed = set(range(5, vocab) if content is None else content) | {EOS_ID}
    for token in range(vocab):
        if token not in allowed:
            logits[:, token] = NEG_INF
    return torch.log_softmax(logits, dim=-1)


class BigramModel:
    """Duck-types the parts of `Seq2Seq` that `generate` uses: `encode`, `step`, `parameters`.

    The next-token log-probs are `next_log_probs(last_token)`; `steps` counts the calls."""

    def __init__(self, next_log_probs: Callable[[int], torch.Tensor] | torch.Tensor) -> None:
        if isinstance(next_log_probs, torch.Tensor):
            table = next_log_probs
            next_log_probs = lambda token: table[token]  # noqa: E731
        self.next_log_probs = next_log_probs
        self.steps = 0
        self._parameter = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        yield self._parameter

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        batch, length = src.shape
        outputs = torch.zeros(batch, length, 2)
        return Memory(outputs, outputs, src.eq(PAD_ID)), torch.zeros(1, batch, 2)

    def step(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.steps += 1
        rows = tokens.size(0)
        log_probs = torch.stack([self.next_log_probs(int(token)) for token in tokens])
        weights = torch.full((rows, memory.outputs.size(1)), 1.0 / memory.outputs.size(1))
        return log_probs, hidden, weights


class ScriptedModel(BigramModel):
    """Says `script` then eos, whatever it is fed: row r at step t puts all mass on script[t]."""

    def __init__(self, script: Sequence[int], vocab: int) -> None:
        self.script, self.vocab = [*script, EOS_ID], vocab
        super().__init__(lambda token: torch.zeros(vocab))

    def step(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_probs = torch.full((tokens.size(0), self.vocab), -30.0)
        log_probs[:, self.script[min(self.steps, len(self.script) - 1)]] = 0.0
        _, hidden, weights = super().step(tokens, hidden, memory)
        return log_probs, hidden, weights


class LetterTokenizer:
    """Id 5 + i is the letter chr(97 + i); the specials decode to nothing."""

    vocab_size = 40

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(chr(92 + int(i)) for i in ids if i > SEP_ID)

    def encode(self, text: str) -> list[int]:
        return [ord(ch) - 92 for ch in text]

    def blank_ids(self) -> list[int]:
        return []

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.decode([i]) for i in ids]
