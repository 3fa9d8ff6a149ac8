"""One candidate pool, one scorer: the model's own replies, replies people wrote (retrieved
from the training corpus) and the user's corrections, scored by the seq2seq on one scale.

Every candidate gets the same two terms as `rerank` (Li et al. 2016, MMI):
    score = log p(reply | context) / |reply| + λ · log p(last turn | reply) / |last turn|
          + offset(source)
The forward term comes from sampling for the model's replies and from one teacher-forced batch
for the others; the backward term from one batch for all. The sources do not share a scale:
the model's own samples are its likeliest text, so they win on the forward term while making
sense far less often than replies people wrote (blind rating, MODEL_CARD.md). `generated_offset`
calibrates that; a correction whose gate passed (engine/memory.py) gets `TAUGHT_BONUS`, so it
wins when the scorer does not find it far off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from engine.batching import encode_context
from engine.decoding.config import DecodeConfig
from engine.decoding.rerank import apply_fluency_floor, backward_terms, pair_log_probs
from engine.model import Seq2Seq
from engine.reply import text_key
from engine.sources import ReplySource
from engine.tokenizer import EOS_ID, Tokenizer

# A taught reply that passed its gate (the same question, or the scorer's near match) is what
# the user asked for: it outranks every other candidate unless it scores this far below them.
TAUGHT_BONUS = 5.0
LEANING_BATCH = 8  # people's replies whose fit to their own conversation is computed at once


@dataclass(frozen=True)
class PoolEntry:
    """A candidate before scoring."""

    text: str
    tokens: tuple[int, ...]  # without eos
    source: ReplySource
    origin: str = ""  # which conversation or correction it came from, for Details
    finished: bool = True  # False: the model's sample was cut at max_length
    forward_sum: float | None = None  # log p(reply | context) when sampling already gave it
    row: int = -1  # the model's samples: the generation row (for its attention)
    bonus: float = 0.0  # added to the score (a correction's gate)
    similarity: float = 1.0  # people's replies: how near the turn they answered is to yours
    fit: float = 0.0  # people's replies: how near the reply itself is to your turn in meaning
    own_turns: tuple[str, ...] = ()  # people's replies: the turns they answered there


@dataclass(frozen=True)
class ScoredEntry:
    entry: PoolEntry
    forward: float  # log p(reply | context) per token, eos counted
    mmi: float  # log p(last turn | reply) per token of the last turn (0 without a backward model)
    score: float
    # people's replies: log p(reply | the turns it answered there) per token
    own_forward: float | None = None


def offset_of(entry: PoolEntry, config: DecodeConfig) -> float:
    """The calibration of one source: the model's replies are shifted by `generated_offset`;
    a person's reply loses for a turn far from yours and gains for a reply near yours in
    meaning (and, in `_hold_back_leaning`, loses for leaning on its own conversation); a
    correction gets the bonus of its gate."""
    if entry.source is ReplySource.MODEL:
        return config.generated_offset
    if entry.source is ReplySource.CORPUS:
        return config.match_weight * (entry.similarity - 1.0) + config.fit_weight * entry.fit
    return entry.bonus


@torch.inference_mode()
def score_pool(
    entries: Sequence[PoolEntry],
    *,
    model: Seq2Seq,
    backward: Seq2Seq | None,
    tokenizer: Tokenizer,
    context: Sequence[int],
    last_turn: str,
    config: DecodeConfig,
    device: torch.device,
) -> list[ScoredEntry]:
    """The distinct non-empty entries, best first: finished replies before cut ones, then by
    score. Without a backward model the MMI term is 0 (the forward model alone decides)."""
    unique = _distinct(entries)
    if not unique:
        return []
    forward = _forward_terms(unique, model, tokenizer, context, device)
    if backward is not None:
        replies = [[*entry.tokens, EOS_ID] for entry in unique]
        mmi = backward_terms(backward, tokenizer, replies, last_turn, device)
    else:
        mmi = [0.0] * len(unique)
    scored = [
        ScoredEntry(entry, fwd, term, fwd + config.mmi_weight * term + offset_of(entry, config))
        for entry, fwd, term in zip(unique, forward, mmi)
    ]
    scored = apply_fluency_floor(
        scored,
        config.fluency_floor,
        exempt=lambda item: item.entry.source in (ReplySource.CORRECTION, ReplySource.LIKED),
    )
    scored = _hold_back_leaning(scored, model, tokenizer, config, device)
    scored.sort(key=rank, reverse=True)
    return scored


def rank(item: ScoredEntry) -> tuple[bool, float]:
    """Finished replies first (a cut one stops mid-sentence), then by score."""
    return item.entry.finished, item.score


def _hold_back_leaning(
    scored: list[ScoredEntry],
    model: Seq2Seq,
    tokenizer: Tokenizer,
    config: DecodeConfig,
    device: torch.device,
) -> list[ScoredEntry]:
    """The own-context penalty of people's replies, computed best first, `LEANING_BATCH` at a
    time, until the best penalised candidate outranks every one not yet looked at.

    The penalty only lowers a score, so the winner is the one that scoring every candidate
    would give, for a third of the cost (a batch over three-turn contexts was the pool's
    dearest pass); the candidates after it keep their score without the penalty (an upper
    bound) and no `own_forward`."""
    if config.own_context_weight <= 0:
        return scored
    ranked = sorted(scored, key=rank, reverse=True)
    done = 0
    while done < len(ranked):
        chunk = ranked[done : done + LEANING_BATCH]
        ranked[done : done + len(chunk)] = _penalised(chunk, model, tokenizer, config, device)
        done += len(chunk)
        if done < len(ranked) and rank(max(ranked[:done], key=rank)) >= rank(ranked[done]):
            break
    return ranked


def _penalised(
    chunk: list[ScoredEntry],
    model: Seq2Seq,
    tokenizer: Tokenizer,
    config: DecodeConfig,
    device: torch.device,
) -> list[ScoredEntry]:
    own = _own_context_terms([item.entry for item in chunk], model, tokenizer, device)
    return [
        item
        if own_forward is None
        else replace(
            item,
            score=item.score + config.own_context_weight * min(0.0, item.forward - own_forward),
            own_forward=own_forward,
        )
        for item, own_forward in zip(chunk, own)
    ]


def _distinct(entries: Sequence[PoolEntry]) -> list[PoolEntry]:
    """Each non-empty reply once; the first entry of a text wins (the sources come in order of
    precedence: corrections, then people's replies, then the model's)."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        key = text_key(entry.text)
        if entry.tokens and key and key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def _forward_terms(
    entries: Sequence[PoolEntry],
    model: Seq2Seq,
    tokenizer: Tokenizer,
    context: Sequence[int],
    device: torch.device,
) -> list[float]:
    """log p(reply | context) per token: from sampling where known, else one batched pass."""
    limit = model.config.max_response_tokens
    missing = [i for i, entry in enumerate(entries) if entry.forward_sum is None]
    targets = {i: [*entries[i].tokens, EOS_ID][:limit] for i in missing}
    sums = (
        pair_log_probs(model, [context] * len(missing), list(targets.values()), device)
        if missing
        else []
    )
    computed = {i: total / len(targets[i]) for i, total in zip(missing, sums)}
    terms = []
    for i, entry in enumerate(entries):
        if entry.forward_sum is None:
            terms.append(computed[i])
        else:
            length = len(entry.tokens) + (1 if entry.finished else 0)
            terms.append(entry.forward_sum / max(length, 1))
    return terms


def _own_context_terms(
    entries: Sequence[PoolEntry], model: Seq2Seq, tokenizer: Tokenizer, device: torch.device
) -> list[float | None]:
    """log p(reply | the turns it answered in its own conversation) per token, for the
    entries that carry those turns (people's replies), in one batched pass."""
    rows = [i for i, entry in enumerate(entries) if entry.own_turns]
    limit = model.config.max_response_tokens
    targets = [[*entries[i].tokens, EOS_ID][:limit] for i in rows]
    sources = [encode_context(tokenizer, entries[i].own_turns, model.config) for i in rows]
    sums = pair_log_probs(model, sources, targets, device) if rows else []
    terms: list[float | None] = [None] * len(entries)
    for i, target, total in zip(rows, targets, sums):
        terms[i] = total / len(target)
    return terms
