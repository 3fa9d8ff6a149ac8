"""Retrieve and refine at chat time: a model that reads exemplars (engine/exemplars.py) reads
the pool's best reply people wrote for the turn before it writes its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.batching import with_exemplar
from engine.decoding.config import DecodeConfig, decode_preset
from engine.decoding.pool import PoolEntry
from engine.pooled_reply import corpus_entries, score_entries

if TYPE_CHECKING:
    from engine.chatbot import Chatbot

# Replies people wrote that compete to be the exemplar when the strategy retrieves none itself
# (beam search, sampling): the pool's default.
EXEMPLAR_CANDIDATES = 32
EXEMPLAR_SCORING = "balanced"  # the preset whose pool calibration picks the exemplar


def choose_exemplar(
    bot: Chatbot, history: Sequence[str], context: Sequence[int], config: DecodeConfig
) -> PoolEntry | None:
    """The retrieved reply the pool's scorer ranks first for the last turn, or None: the model
    reads no exemplar, `refine` is "none", or there is no reply index or nothing found."""
    if not bot.config.exemplar or config.refine == "none" or bot.index is None:
        return None
    # The pool's calibration decides; a strategy that is not the pool has none of its own
    # (match and own-context weights at 0 let "Congrats!" answer "I failed my exam"), so the
    # default preset's, which was rated best blind, chooses for it.
    scoring = config if config.strategy == "pool" else decode_preset(EXEMPLAR_SCORING)
    entries = corpus_entries(bot, history[-1], scoring.retrieved or EXEMPLAR_CANDIDATES)
    ranked = score_entries(bot, entries, context, history, scoring)
    return ranked[0].entry if ranked else None


def refined_context(bot: Chatbot, context: Sequence[int], exemplar: PoolEntry | None) -> list[int]:
    """The encoder input the model writes from: the context, then the exemplar if any."""
    if exemplar is None:
        return list(context)
    return with_exemplar(list(context), exemplar.tokens, bot.config)
