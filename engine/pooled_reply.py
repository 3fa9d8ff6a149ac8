"""The `pool` strategy's reply: gather the candidates of every source, score them on one
scale (engine/decoding/pool.py), and hand back the best with the whole pool as alternatives."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.decoding.config import DecodeConfig
from engine.decoding.generate import Generation
from engine.decoding.pool import PoolEntry, ScoredEntry, score_pool
from engine.decoding.rerank import BACKWARD
from engine.reply import Alternative, Reply
from engine.retrieval import Retrieved
from engine.sources import ReplySource

if TYPE_CHECKING:
    from engine.chatbot import Chatbot
    from engine.memory import MemoryMatch


def gather(
    bot: Chatbot,
    generation: Generation,
    config: DecodeConfig,
    history: list[str],
    *,
    refined: bool = False,
) -> tuple[list[PoolEntry], MemoryMatch | None]:
    """The pool, sources in order of precedence: the user's corrections, replies people wrote,
    the model's own samples. `refined`: the samples were written from the context and an
    exemplar, so their sampling log-probabilities are not log p(reply | context) and are
    computed again like everyone else's."""
    entries: list[PoolEntry] = []
    match = None
    if bot.memory is not None and len(bot.memory):
        taught, match = bot.memory.pool_entries(bot, history[-1])
        entries.extend(taught)
    people = [
        *corpus_entries(bot, history[-1], config.retrieved, by_meaning=config.similar > 0),
        *similar_entries(bot, history[-1], config.similar),
    ]
    entries.extend(with_fit(bot, history[-1], people) if config.fit_weight > 0 else people)
    for row, (text, hypothesis) in enumerate(zip(generation.texts, generation.hypotheses)):
        entries.append(
            PoolEntry(
                text,
                tuple(hypothesis.tokens),
                ReplySource.MODEL,
                finished=hypothesis.finished,
                forward_sum=None if refined else hypothesis.log_prob,
                row=row,
            )
        )
    return entries, match


def corpus_entries(
    bot: Chatbot, turn: str, limit: int, *, by_meaning: bool = False
) -> list[PoolEntry]:
    """Replies people wrote to turns like `turn`, from the model's reply index (none without
    one). `by_meaning`: their turns' nearness to yours is the turn encoder's, on the scale of
    `similar_entries` (when the model has one), not the word search's."""
    if bot.index is None or not limit:
        return []
    found = bot.index.search(turn, limit)
    encoder = bot.turn_encoder() if by_meaning else None
    if encoder is not None:
        nearness = encoder.nearness(turn, [item.prompt for item in found])
        found = [replace(item, similarity=near) for item, near in zip(found, nearness)]
    return _as_entries(bot, found)


def similar_entries(bot: Chatbot, turn: str, limit: int) -> list[PoolEntry]:
    """Replies people wrote to the turns nearest `turn` in meaning (none without the turn
    encoder)."""
    similar = bot.similar_turns() if limit else None
    return [] if similar is None else _as_entries(bot, similar.search(turn, limit))


def with_fit(bot: Chatbot, turn: str, entries: Sequence[PoolEntry]) -> list[PoolEntry]:
    """`entries` with each reply's nearness in meaning to `turn` (the turn encoder's cosine,
    floored at 0); as they were without the encoder."""
    encoder = bot.turn_encoder() if entries else None
    if encoder is None:
        return list(entries)
    nearness = encoder.nearness(turn, [entry.text for entry in entries])
    return [replace(entry, fit=near) for entry, near in zip(entries, nearness)]


def _as_entries(bot: Chatbot, found_replies: Sequence[Retrieved]) -> list[PoolEntry]:
    assert bot.index is not None
    entries = []
    for found in found_replies:
        entries.append(
            PoolEntry(
                found.reply,
                tuple(bot.tokenizer.encode(found.reply)),
                ReplySource.CORPUS,
                f"{bot.index.corpus} conversation {found.conversation}",
                similarity=found.similarity,
                own_turns=(*found.earlier, found.prompt),
            )
        )
    return entries


def score_entries(
    bot: Chatbot,
    entries: Sequence[PoolEntry],
    context: Sequence[int],
    history: Sequence[str],
    config: DecodeConfig,
) -> list[ScoredEntry]:
    """`entries` scored by `bot`'s models for the last turn of `history`, best first."""
    return score_pool(
        entries,
        model=bot.model,
        backward=bot.backward,
        tokenizer=bot.tokenizer,
        context=context,
        last_turn=" ".join(history[-1].split()),
        config=config,
        device=bot.device,
    )


def pooled_reply(
    bot: Chatbot,
    generation: Generation,
    config: DecodeConfig,
    history: list[str],
    context: list[int],
    *,
    started: float,
    refined: bool = False,
) -> Reply:
    entries, match = gather(bot, generation, config, history, refined=refined)
    ranked: list[ScoredEntry] = []
    if not generation.cancelled:
        ranked = score_entries(bot, entries, context, history, config)
    if not ranked:  # stopped before scoring, or nothing but empty candidates
        first = next(entry for entry in entries if entry.source is ReplySource.MODEL)
        ranked = [ScoredEntry(first, 0.0, 0.0, 0.0)]
    best = ranked[0].entry
    if match is not None:
        match = match.decided(chosen=best.source is match.correction.source)
    total_ms = (time.perf_counter() - started) * 1000
    attention = generation.attention[best.row] if best.source is ReplySource.MODEL else []
    return Reply(
        text=best.text,
        tokens=list(best.tokens),
        alternatives=[_alternative(item) for item in ranked],
        config=config,
        seed=generation.seed,
        cancelled=generation.cancelled,
        first_token_ms=total_ms,  # nothing shows until the pool is scored
        total_ms=total_ms,
        context_pieces=bot.tokenizer.pieces(context),
        reply_pieces=bot.tokenizer.pieces(best.tokens),
        attention=attention,
        scorer=BACKWARD if bot.backward is not None else None,
        memory=match,
        source=best.source,
        origin=best.origin,
    )


def _alternative(item: ScoredEntry) -> Alternative:
    return Alternative(
        item.entry.text,
        item.score,
        item.entry.finished,
        forward_score=item.forward,
        mmi_score=item.mmi,
        source=item.entry.source,
        origin=item.entry.origin,
    )
