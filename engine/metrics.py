"""Generation metrics for the model card: distinct-n, reply length, generic-reply rate; with a
`Judge` the relevance scores of the replies beside those of the real next turns, and with a
`FluencyScorer` the replies' fluency (engine/fluency.py)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from engine.chatbot import Chatbot
from engine.data import Example
from engine.decoding.config import DecodeConfig
from engine.fluency import FluencyScorer
from engine.judge import Judge
from engine.reply import text_key
from engine.retrieval import query_words
from engine.sources import ReplySource


def distinct_n(replies: Sequence[Sequence[str]], n: int) -> float:
    """Li et al. 2016: distinct n-grams / all n-grams, over every generated reply (word level)."""
    total, distinct = 0, set()
    for words in replies:
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        distinct.update(grams)
    return len(distinct) / total if total else 0.0


def generic_reply_rate(replies: Sequence[str], top: int = 5) -> float:
    """The share of replies that are one of the `top` most frequent replies."""
    if not replies:
        return 0.0
    counts = Counter(reply.strip().lower() for reply in replies)
    return sum(count for _, count in counts.most_common(top)) / len(replies)


# "I don't know"-type replies: they fit every message and answer none.
UNCERTAIN = re.compile(
    r"\b(i\s*(do\s*n[o']?t|dont|dunno)\s+know|i\s*'?\s*a?m\s+not\s+sure|not\s+sure|no\s+idea"
    r"|idk|dunno|i\s+have\s+no\s+clue|who\s+knows)\b",
    re.IGNORECASE,
)


def uncertain_reply_rate(replies: Sequence[str]) -> float:
    """The share of replies that say they don't know or aren't sure."""
    if not replies:
        return 0.0
    return sum(1 for reply in replies if UNCERTAIN.search(reply.replace("’", "'"))) / len(replies)


def exemplar_use(pairs: Sequence[tuple[str, str]]) -> dict[str, float]:
    """How much a retrieve-and-refine model's replies take from their exemplars: the share
    that copies 4 or more consecutive words of it, and the share that is the exemplar itself."""
    count = max(len(pairs), 1)
    return {
        "replies_written_from_one": len(pairs),
        "copy_4_words_rate": sum(shares_run(reply, exemplar, 4) for reply, exemplar in pairs)
        / count,
        "verbatim_rate": sum(text_key(reply) == text_key(exemplar) for reply, exemplar in pairs)
        / count,
    }


def shares_run(text: str, other: str, words: int) -> bool:
    """Whether `text` has `words` consecutive words (case and punctuation aside) of `other`."""
    mine, theirs = query_words(text), query_words(other)
    runs = {tuple(theirs[i : i + words]) for i in range(len(theirs) - words + 1)}
    return any(tuple(mine[i : i + words]) in runs for i in range(len(mine) - words + 1))


def _prompt_of(example: Example) -> str:
    return example.context[-1] if example.context else ""


def judge_replies(
    judge: Judge, examples: Sequence[Example], replies: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The judge's scores for the model's replies and, scored the same way, for the real next
    turns (the human reference). The prompt is the last context turn."""
    prompts = [_prompt_of(example) for example in examples]
    return {
        "model": judge.score(prompts, replies).to_dict(),
        "human": judge.score(prompts, [example.response for example in examples]).to_dict(),
    }


def generation_metrics(
    bot: Chatbot,
    examples: Sequence[Example],
    config: DecodeConfig,
    judge: Judge | None = None,
    *,
    seed_offset: int = 0,
    fluency: FluencyScorer | None = None,
) -> dict[str, Any]:
    replies: list[str] = []
    exemplars: list[tuple[str, str]] = []  # (reply, the exemplar it was written from)
    started = time.perf_counter()
    for index, example in enumerate(examples):
        # Without a fixed seed, each prompt samples with its index: runs are repeatable.
        seeded = config.replace(seed=seed_offset + index) if config.seed is None else config
        reply = bot.reply(list(example.context), seeded)
        replies.append(reply.text)
        if reply.exemplar and reply.source is ReplySource.MODEL:
            exemplars.append((reply.text, reply.exemplar))
    elapsed = time.perf_counter() - started
    words = [reply.split() for reply in replies]
    metrics = {
        "prompts": len(replies),
        "distinct_1": distinct_n(words, 1),
        "distinct_2": distinct_n(words, 2),
        "avg_reply_words": sum(map(len, words)) / max(len(words), 1),
        "generic_reply_rate": generic_reply_rate(replies),
        "uncertain_reply_rate": uncertain_reply_rate(replies),
        "empty_replies": sum(1 for reply in replies if not reply.strip()),
        "ms_per_reply": elapsed * 1000 / max(len(replies), 1),
        "top_replies": Counter(r.strip().lower() for r in replies).most_common(5),
        "samples": [
            {"context": list(example.context), "reply": reply}
            for example, reply in zip(examples[:20], replies[:20])
        ],
    }
    if exemplars:
        metrics["exemplar"] = exemplar_use(exemplars)
    if judge is not None:
        metrics["judge"] = judge_replies(judge, examples, replies)
    if fluency is not None:
        # The model's replies only: the language model scores people's casual turns lowest of
        # all, so a human figure beside it would invite the wrong comparison (engine/fluency.py).
        scores = fluency.score([_prompt_of(example) for example in examples], replies)
        mean = sum(scores) / max(len(scores), 1)
        metrics.setdefault("judge", {}).setdefault("model", {})["fluency"] = mean
    return metrics
