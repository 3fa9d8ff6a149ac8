"""What a fine-tune learned: taught recall (a reply holds every key content word of the taught
one) and both models' replies to the same prompts."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from engine.chatbot import Chatbot
from engine.data import Example, normalise
from engine.decoding.config import PRESETS
from engine.finetune.result import Cancelled
from engine.finetune_figures import Comparison, RecallRow

# Taught recall is measured as the issue of teaching asks: with the "precise" preset (a rerank
# of sampled candidates with a fixed seed, scored by the backward model that goes along).
RECALL_CONFIG = PRESETS["precise"]
_STOPWORD_TEXT = (
    "a an the i im ive id me my mine you youre your yours we our us it its is am are was were be "
    "been being do does did have has had to of in on at for with and or but so that this these "
    "those what whats who how yes no not dont just really very too also there here they them "
    "their he she his her as by from about like well oh ok okay"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"\w+")


def key_words(taught: str, prompt: str = "") -> set[str]:
    """The content words of a taught reply that its prompt does not already hold."""
    words = set(_WORD.findall(normalise(taught)))
    keys = words - _STOPWORDS - set(_WORD.findall(normalise(prompt)))
    return keys or words


def recalled(reply: str, taught: str, prompt: str = "") -> bool:
    """True when every key content word of `taught` appears in `reply`."""
    return key_words(taught, prompt) <= set(_WORD.findall(normalise(reply)))


def taught_recall(
    bot: Chatbot, examples: Sequence[Example], should_stop: Callable[[], bool] | None = None
) -> tuple[float | None, list[RecallRow]]:
    """The share of `examples` whose taught reply `bot` gives (`RECALL_CONFIG`), and the rows."""
    rows = []
    for example in examples:
        if should_stop and should_stop():
            raise Cancelled
        reply = bot.reply(list(example.context), RECALL_CONFIG).text
        prompt = example.context[-1] if example.context else ""
        rows.append(
            RecallRow(prompt, example.response, reply, recalled(reply, example.response, prompt))
        )
    share = sum(row.recalled for row in rows) / len(rows) if rows else None
    return share, rows


def compare_replies(
    before: Chatbot,
    after: Chatbot,
    prompts: Sequence[Example],
    should_stop: Callable[[], bool],
) -> list[Comparison]:
    """Replies of both models with `RECALL_CONFIG` (a fixed seed: the same prompt, the same
    reply)."""
    rows = []
    for example in prompts:
        if should_stop():
            raise Cancelled
        history = list(example.context)
        rows.append(
            Comparison(
                prompt=tuple(history),
                expected=example.response,
                before=before.reply(history, RECALL_CONFIG).text,
                after=after.reply(history, RECALL_CONFIG).text,
            )
        )
    return rows
