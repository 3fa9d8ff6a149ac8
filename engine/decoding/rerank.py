"""Rerank sampled replies by maximum mutual information (Li et al. 2016, "A Diversity-Promoting
Objective Function for Neural Conversation Models").

A reply that could follow any message ("I don't know", "haha yeah") is likely under the model
whatever was said; MMI prefers the reply that fits *this* message. Each candidate is scored
per token, so long replies stuffed with the topic word do not win on length:

- with a backward model p(context | reply):
  score = log p(reply | context) / |reply| + λ · log p(last turn | reply) / |last turn|
  and, with anti_lm_weight γ > 0, the best two by that score are reordered by adding
          − γ · mean log p(reply | everyday turn) / |reply|
- without one (anti-LM), the forward model scored against a few neutral contexts stands in
  for p(reply):
  score = (log p(reply | context) − λ/10 · mean log p(reply | neutral)) / |reply|

Finished replies rank above replies cut at max_length, whatever the scores: a cut reply stops
mid-sentence. log p(reply | context) is summed while the candidates are decoded; the MMI term
comes from one teacher-forced batch (of the backward model, or of the neutral contexts), not one
pass a reply.

The candidates are samples, or beam search's whole n-best (`candidate_search` "beam": Li et
al.'s MMI-bidi, whose hypotheses stay fluent). A fluency floor drops candidates the forward model
itself finds far less likely than the best one, before MMI weighs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

import torch

from engine.batching import collate, encode_context
from engine.decoding.strategies import Hypothesis
from engine.model import Seq2Seq
from engine.tokenizer import EOS_ID, Tokenizer

# Short openers that say nothing: what a reply scores after them is how likely it is anyway.
NEUTRAL_CONTEXTS = ("hi", "ok", "yes", "hello")
# Everyday turns of every kind (a greeting, a question, news, a reaction, a laugh): what a reply
# scores after them estimates how likely it is after anything, for the anti-LM term beside the
# backward model. Openers alone made "yeah" and "hahaha" look rare, so they won the rerank.
MARGINAL_CONTEXTS = (
    "hi", "how are you?", "what do you do for fun?", "i just got back from work.",
    "that's cool", "lol", "do you like music?", "ok",
)  # fmt: skip
ANTI_LM_SHORTLIST = 2  # how many of the best by MMI the anti-LM term reorders
# Without a backward model λ weighs the anti-LM stand-in, a term on another scale (how unlikely
# the reply is after an opener, not how likely your turn is after the reply), so it counts a
# tenth: on the 40 everyday openers (3 seeds) the anti-LM at λ 10 measured relevance 0.40 and
# specificity 0.50, at λ 1 0.46 and 0.58; the presets' λ (7-10) is set for the backward model.
ANTI_LM_WEIGHT_SCALE = 0.1
BACKWARD = "backward model"
ANTI_LM = "anti-LM"


@dataclass(frozen=True)
class ScoredCandidate:
    hypothesis: Hypothesis
    index: int  # its row in the generation (for its attention)
    forward: float  # log p(reply | context) per token, eos counted
    mmi: float  # the MMI term per token (before the weight); higher fits the context better
    # forward + mmi_weight * mmi (a tenth of the weight for the anti-LM stand-in), plus
    # anti_lm_weight * the anti-LM term for the shortlist
    score: float


class HasForward(Protocol):
    @property
    def forward(self) -> float: ...  # log p(reply | context) per token


Scored = TypeVar("Scored", bound=HasForward)


def apply_fluency_floor(
    scored: list[Scored], floor: float, *, exempt: Callable[[Scored], bool] = lambda _: False
) -> list[Scored]:
    """Drop candidates whose forward term trails the best one's by more than `floor` nats per
    token (0: keep all), so MMI cannot pick a reply the model itself finds garbled; `exempt`
    ones (a taught reply) are never dropped. Rerank and the pool share it."""
    if floor <= 0 or not scored:
        return scored
    best = max(item.forward for item in scored)
    return [item for item in scored if item.forward >= best - floor or exempt(item)]


@torch.inference_mode()
def pair_log_probs(
    model: Seq2Seq,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    device: torch.device,
) -> list[float]:
    """log p(target | source) for each pair (targets end in eos), one batched pass."""
    encoded = [(list(source), list(target)) for source, target in zip(sources, targets)]
    batch = collate(encoded, range(len(encoded)), device)
    scores = model.target_log_probs(batch.src, batch.src_lengths, batch.target_in, batch.target_out)
    return scores.cpu().tolist()


def rank(candidate: ScoredCandidate) -> tuple[bool, float]:
    """Finished replies first, then by score: a reply cut at max_length stops mid-sentence, and
    with λ 7 such long replies won 7% of test prompts that had a finished candidate."""
    return candidate.hypothesis.finished, candidate.score


def unique_candidates(hypotheses: Sequence[Hypothesis]) -> list[tuple[int, Hypothesis]]:
    """Each distinct non-empty reply once, with the row it was first drawn on."""
    seen: set[tuple[int, ...]] = set()
    unique = []
    for index, hypothesis in enumerate(hypotheses):
        key = tuple(hypothesis.tokens)
        if key and key not in seen:
            seen.add(key)
            unique.append((index, hypothesis))
    return unique


def rerank(
    hypotheses: Sequence[Hypothesis],
    *,
    model: Seq2Seq,
    tokenizer: Tokenizer,
    last_turn: str,
    mmi_weight: float,
    backward: Seq2Seq | None,
    device: torch.device,
    anti_lm_weight: float = 0.0,
    fluency_floor: float = 0.0,
) -> list[ScoredCandidate]:
    """The distinct non-empty candidates, best first (none when every one is empty), less those
    below the fluency floor."""
    candidates = unique_candidates(hypotheses)
    if not candidates:
        return []
    replies = [[*hypothesis.tokens, EOS_ID] for _, hypothesis in candidates]
    # log p(reply | context) as the model gave it while decoding (`MultiSample`, `BeamSearch`),
    # eos counted for a reply that ended; one cut at max_length is scored over its tokens.
    forward = [hypothesis.log_prob for _, hypothesis in candidates]
    lengths = [len(h.tokens) + (1 if h.finished else 0) for _, h in candidates]
    if backward is not None:
        mmi = backward_terms(backward, tokenizer, replies, last_turn, device)
        weight = mmi_weight
    else:
        mmi = _anti_lm_terms(model, tokenizer, replies, device)
        weight = mmi_weight * ANTI_LM_WEIGHT_SCALE
    scored = []
    for (index, hypothesis), length, log_p, term in zip(candidates, lengths, forward, mmi):
        per_token = log_p / max(length, 1)
        score = per_token + weight * term
        scored.append(ScoredCandidate(hypothesis, index, per_token, term, score))
    scored = apply_fluency_floor(scored, fluency_floor)
    scored.sort(key=rank, reverse=True)
    if backward is not None and anti_lm_weight > 0:
        scored = _hold_back_generic(scored, model, tokenizer, anti_lm_weight, device)
    return scored


def _hold_back_generic(
    scored: list[ScoredCandidate],
    model: Seq2Seq,
    tokenizer: Tokenizer,
    anti_lm_weight: float,
    device: torch.device,
) -> list[ScoredCandidate]:
    """The best few by MMI, reordered with the anti-LM term; the rest follow as they were.

    Scoring every candidate after every everyday turn cost 8x the backward pass (a reranked
    reply took 8x a sampled one); a shortlist of two costs one backward pass more (3.8x)."""
    shortlist, rest = scored[:ANTI_LM_SHORTLIST], scored[ANTI_LM_SHORTLIST:]
    replies = [[*candidate.hypothesis.tokens, EOS_ID] for candidate in shortlist]
    marginal = _anti_lm_terms(model, tokenizer, replies, device, MARGINAL_CONTEXTS)
    held = [
        replace(candidate, score=candidate.score + anti_lm_weight * term)
        for candidate, term in zip(shortlist, marginal)
    ]
    held.sort(key=rank, reverse=True)
    return [*held, *rest]


def backward_terms(
    backward: Seq2Seq,
    tokenizer: Tokenizer,
    replies: Sequence[Sequence[int]],
    last_turn: str,
    device: torch.device,
) -> list[float]:
    """log p(last turn | reply) per token of the last turn."""
    config = backward.config
    target = tokenizer.encode_response(last_turn, max_tokens=config.max_response_tokens)
    texts = [tokenizer.decode(reply[:-1]) for reply in replies]
    sources = [encode_context(tokenizer, [text], config) for text in texts]
    scores = pair_log_probs(backward, sources, [target] * len(replies), device)
    return [score / len(target) for score in scores]


def _anti_lm_terms(
    model: Seq2Seq,
    tokenizer: Tokenizer,
    replies: Sequence[Sequence[int]],
    device: torch.device,
    contexts: Sequence[str] = NEUTRAL_CONTEXTS,
) -> list[float]:
    """−mean log p(reply | neutral context), per token of the reply."""
    neutral = [encode_context(tokenizer, [text], model.config) for text in contexts]
    sources = [context for context in neutral for _ in replies]
    targets = [reply for _ in neutral for reply in replies]
    scores = pair_log_probs(model, sources, targets, device)
    count = len(replies)
    return [
        -sum(scores[k * count + i] for k in range(len(neutral))) / len(neutral) / len(reply)
        for i, reply in enumerate(replies)
    ]
