"""The forgetting guard and the choice of state: perplexity on the original corpus before and
while teaching, and which of the states checked is kept.

A state is within the guard when the original corpus's perplexity on the choosing slice rose
by less than the budget (less a margin: the slice reported is another). Among states within it
the one that fits the taught pairs best is kept; with none within it, the one that forgot least.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from engine.batching import EncodedExample
from engine.finetune.result import Cancelled
from engine.finetune_figures import Figures, Perplexity
from engine.model import Seq2Seq
from engine.train import evaluate_perplexity

_EVAL_CHUNK = 128  # examples per evaluation call, so a stop request is seen between chunks


def measure_perplexity(
    model: Seq2Seq,
    encoded: Sequence[EncodedExample],
    device: torch.device,
    should_stop: Callable[[], bool],
) -> Perplexity | None:
    """`evaluate_perplexity` in chunks, so that a stop request is honoured between them."""
    if not encoded:
        return None
    total_nll, total_tokens = 0.0, 0
    for start in range(0, len(encoded), _EVAL_CHUNK):
        if should_stop():
            raise Cancelled
        part = evaluate_perplexity(model, encoded[start : start + _EVAL_CHUNK], device=device)
        total_nll += part.loss * part.tokens
        total_tokens += part.tokens
    mean = total_nll / max(total_tokens, 1)
    return Perplexity(math.exp(min(mean, 50.0)), mean, total_tokens, len(encoded))


def figures(
    model: Seq2Seq,
    encoded: Sequence[Sequence[EncodedExample]],
    device: torch.device,
    stop: Callable[[], bool],
) -> Figures:
    """Perplexity on the held-out pairs, the original corpus and the taught pairs."""
    heldout, valid, taught = (measure_perplexity(model, part, device, stop) for part in encoded)
    return Figures(heldout=heldout, valid=valid, taught=taught)


@dataclass
class Choice:
    """The state kept: the best fit to the taught pairs among states within the budget."""

    epoch: int = -1
    mix: float = 1.0  # the share of the trained weights (the rest: the starting weights)
    within: bool = False
    select_perplexity: float = math.inf
    taught_loss: float = math.inf
    state: dict[str, torch.Tensor] | None = None

    def better(self, within: bool, select_perplexity: float, taught_loss: float) -> bool:
        if within != self.within:
            return within
        if within:
            return taught_loss < self.taught_loss
        return select_perplexity < self.select_perplexity


@dataclass(frozen=True)
class Check:
    """One state measured by the guard."""

    valid_perplexity: float  # on the choosing slice of the original corpus
    taught_loss: float
    within_budget: bool
    kept: bool


@dataclass
class Guard:
    """The states checked so far and the one kept."""

    select_valid: Sequence[EncodedExample]  # the slice of the original corpus that chooses
    base_select: float  # the starting model's perplexity on it
    allowed_rise: float  # max_forgetting less select_margin
    device: torch.device
    choice: Choice = field(default_factory=Choice)

    def check(
        self, model: Seq2Seq, taught: Sequence[EncodedExample], epoch: int, mix: float = 1.0
    ) -> Check:
        """Measure `model` as it is now; keep its state when it is the best choice so far."""
        selected = evaluate_perplexity(model, self.select_valid, device=self.device).perplexity
        taught_loss = evaluate_perplexity(model, taught, device=self.device).loss
        within = selected <= self.base_select * (1 + self.allowed_rise)
        choice = self.choice
        kept = choice.better(within, selected, taught_loss)
        if kept:
            choice.epoch, choice.mix, choice.within = epoch, mix, within
            choice.select_perplexity, choice.taught_loss = selected, taught_loss
            choice.state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        return Check(selected, taught_loss, within, kept)
