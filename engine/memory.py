"""Corrections as an immediate memory: the first source of the `pool` strategy's candidates.

A correction says what the bot should have answered to one user turn (its prompt). A new turn
brings a taught reply into the pool when it asks the same question:
- exactly, after folding case, spacing and sentence punctuation (symbols and digits count, so
  "what is 22" is not "what is 2+2"): the taught reply is the reply;
- in other words: the model's own encoder representations of the two turns (the mean of the
  encoder outputs) have a cosine similarity of at least `NEAR_THRESHOLD`, and the two turns ask
  about the same person (a question about "you" is not one about "me" or "them"). The taught
  reply then joins the pool with `TAUGHT_BONUS`, and the seq2seq scorer decides whether it fits.
The latest correction of a prompt wins. No Qt, no SQLAlchemy: the app hands `Correction`s in
(oldest first) and reads the `MemoryMatch` on a reply.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from engine.batching import encode_context
from engine.data import normalise
from engine.decoding.pool import TAUGHT_BONUS, PoolEntry
from engine.reply import Alternative
from engine.sources import ReplySource
from engine.tokenizer import BOS_ID

if TYPE_CHECKING:
    from engine.chatbot import Chatbot
    from engine.reply import Reply

# Sentence punctuation that does not change a question; symbols (+, -, /, =, ...) and digits do.
_SOFT_PUNCTUATION = re.compile(r"[.,!?;:'\"\u2018\u2019\u201c\u201d\u00bf\u00a1]")
# Who a question is about: asking "your name" is not asking "my name" or "their age".
_SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "u", "ur", "youre", "youve"})
_THIRD_PERSON = frozenset(
    {"he", "him", "his", "she", "her", "hers", "they", "them", "their", "theirs"}
)
_FIRST_PERSON_ONLY = frozenset({"my", "mine", "myself", "me"})
EXACT_BONUS = 100.0  # the same question: the taught reply is the reply
# Words that carry no topic: two questions that share none of the rest ask about different
# things ("what is your favorite color?" is not "what's your favorite food?"), however near
# the encoder puts them, unless it puts them nearer than `CERTAIN_THRESHOLD`.
_FUNCTION_WORDS = frozenset(
    """a an the and or but if of to in on at for with from by about as into like than then so
    is are was were be been being am do does did doing have has had having will would can could
    shall should may might must what whats which who whom whose where when why how any some
    i me my mine myself you your yours yourself u ur he him his she her hers it its we us our
    they them their this that these those there here not no yes very really just too also
    favorite favourite best most much many more lot get got go going""".split()  # noqa: SIM905
)
CERTAIN_THRESHOLD = 0.85

# Measured on the shipped model (bench/teach_pool.py: 24 taught questions, each in two other
# wordings, and 2,000 chitchat validation turns): at 0.70, with the topic and person checks, the
# same question typed again always answers, 12 of 48 rewordings reach their own correction, and
# 4 of 2,000 unrelated turns (0.2%, each the same question in fact: "what do you do for work?")
# are answered by one. Without the topic check 18 of 48 rewordings, but also 13 turns, some
# wrong ("what is your favorite color?" -> the taught favourite food). The model's encoder
# cannot tell more paraphrases from other questions.
NEAR_THRESHOLD = 0.70
SCORE_MARGIN = 2.5  # nats per token the taught reply may trail the model's own reply by


@dataclass(frozen=True)
class Correction:
    prompt: str  # the user turn the corrected reply answered
    reply: str  # what the user said the bot should have answered
    when: str = ""  # when it was made, as the app wants it shown (e.g. an ISO date)
    source_id: int | None = None  # the app's id for it (the corrected message)


@dataclass(frozen=True)
class MemoryMatch:
    correction: Correction
    exact: bool
    similarity: float  # cosine of the encoder representations (1.0 for an exact match)
    taught_score: float | None  # mean log-prob per token of the taught reply (None: not scored)
    model_score: float | None  # the same for the model's own reply
    chosen: bool  # the taught reply is the reply

    def decided(self, *, chosen: bool) -> MemoryMatch:
        return replace(self, chosen=chosen)

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary, for a reply's stored details."""
        return {
            "prompt": self.correction.prompt,
            "reply": self.correction.reply,
            "when": self.correction.when,
            "source_id": self.correction.source_id,
            "exact": self.exact,
            "similarity": round(self.similarity, 4),
            "taught_score": self.taught_score,
            "model_score": self.model_score,
            "chosen": self.chosen,
        }


class CorrectionMemory:
    """The corrections a chatbot consults; their encoder vectors are cached per model."""

    def __init__(
        self,
        corrections: Sequence[Correction] = (),
        *,
        threshold: float = NEAR_THRESHOLD,
        margin: float = SCORE_MARGIN,
    ) -> None:
        self.threshold = threshold
        self.margin = margin
        self._vectors: dict[str, torch.Tensor] = {}
        self._model: object | None = None
        self.update(corrections)

    def update(self, corrections: Sequence[Correction]) -> None:
        """Replace the corrections (the latest one for a prompt wins); cached vectors stay."""
        by_prompt: dict[str, Correction] = {}
        for correction in corrections:
            key = exact_key(correction.prompt)
            if key and correction.reply.strip():
                by_prompt[key] = correction
        self._by_prompt = by_prompt

    def __len__(self) -> int:
        return len(self._by_prompt)

    @torch.inference_mode()
    def vector(self, bot: Chatbot, turn: str) -> torch.Tensor:
        """The model's representation of one turn: its encoder outputs, averaged, unit length."""
        text = normalise(turn) or " ".join(turn.split())
        ids = encode_context(bot.tokenizer, [text], bot.config)
        src = torch.tensor([ids], device=bot.device)
        memory, _ = bot.model.encode(src, torch.tensor([len(ids)]))
        mean = memory.outputs[0].float().mean(dim=0)  # (H,)
        return torch.nn.functional.normalize(mean, dim=0).cpu()

    def _prompt_vectors(self, bot: Chatbot) -> tuple[list[str], torch.Tensor]:
        if self._model is not bot.model:  # another model: other representations
            self._vectors, self._model = {}, bot.model
        keys = list(self._by_prompt)
        for key in keys:
            if key not in self._vectors:
                self._vectors[key] = self.vector(bot, self._by_prompt[key].prompt)
        return keys, torch.stack([self._vectors[key] for key in keys])  # (N, H)

    def lookup(self, bot: Chatbot, turn: str) -> MemoryMatch | None:
        """The correction whose prompt asks what `turn` asks (exact first, else the nearest
        above the threshold about the same person), not yet scored; None when none does."""
        key = exact_key(turn)
        if not key or not self._by_prompt:
            return None
        if key in self._by_prompt:
            return MemoryMatch(self._by_prompt[key], True, 1.0, None, None, chosen=True)
        keys, vectors = self._prompt_vectors(bot)
        similarities = vectors @ self.vector(bot, turn)  # (N,)
        for best in similarities.argsort(descending=True).tolist():
            similarity = float(similarities[best])
            if similarity < self.threshold:
                return None
            correction = self._by_prompt[keys[best]]
            if same_question_kind(turn, correction.prompt) and same_topic(
                turn, correction.prompt, similarity
            ):
                return MemoryMatch(correction, False, similarity, None, None, False)
        return None

    def pool_entries(self, bot: Chatbot, turn: str) -> tuple[list[PoolEntry], MemoryMatch | None]:
        """The taught reply for `turn`, as the pool's first candidate, and its match."""
        match = self.lookup(bot, turn)
        if match is None:
            return [], None
        text = " ".join(match.correction.reply.split())
        entry = PoolEntry(
            text,
            tuple(bot.tokenizer.encode(text)),
            ReplySource.CORRECTION,
            origin=f"your correction of {match.correction.when or 'a reply'}",
            bonus=EXACT_BONUS if match.exact else TAUGHT_BONUS,
        )
        return [entry], match

    def consult(self, bot: Chatbot, history: list[str], reply: Reply) -> Reply:
        """`reply`, or the taught reply in its place, with the match recorded on it."""
        match = self.lookup(bot, history[-1])
        if match is None or reply.cancelled:
            return reply
        taught = match.correction.reply
        context, _ = bot.prepare_context(history)
        taught_score = mean_log_prob(bot, context, taught)
        model_score = mean_log_prob(bot, context, reply.text) if reply.text.strip() else None
        chosen = match.exact or model_score is None or taught_score >= model_score - self.margin
        match = replace(match, taught_score=taught_score, model_score=model_score, chosen=chosen)
        candidate = Alternative(taught, taught_score, True, source=ReplySource.CORRECTION)
        if not chosen:
            return replace(reply, alternatives=[*reply.alternatives, candidate], memory=match)
        tokens = bot.tokenizer.encode(taught)
        return replace(
            reply,
            text=taught,
            tokens=tokens,
            alternatives=[candidate, *reply.alternatives],
            reply_pieces=bot.tokenizer.pieces(tokens),
            attention=[],
            memory=match,
            source=ReplySource.CORRECTION,
        )


@torch.inference_mode()
def mean_log_prob(bot: Chatbot, context: list[int], text: str) -> float:
    """Mean log-probability per token (eos included) of `text` as the reply to `context`."""
    target = bot.tokenizer.encode_response(text, max_tokens=bot.config.max_response_tokens)
    src = torch.tensor([context], device=bot.device)
    target_in = torch.tensor([[BOS_ID, *target[:-1]]], device=bot.device)
    target_out = torch.tensor([target], device=bot.device)
    loss = bot.model.loss(src, torch.tensor([len(context)]), target_in, target_out)
    return -float(loss)


def exact_key(text: str) -> str:
    """A turn as the memory compares it: case, spacing and sentence punctuation folded away
    ("What's your NAME ?" -> "whats your name"); symbols and digits kept ("what is 2+2"), and a
    turn of only punctuation or emoji kept as it is ("?", "👍")."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return " ".join(_SOFT_PUNCTUATION.sub("", folded).split()) or folded


def _persons(text: str) -> tuple[bool, bool, bool]:
    words = set(re.findall(r"\w+", normalise(text).replace("'", "")))
    second = bool(words & _SECOND_PERSON)
    first_only = not second and bool(words & _FIRST_PERSON_ONLY)
    return second, bool(words & _THIRD_PERSON), first_only


def _figures(text: str) -> list[str]:
    """The numbers and symbols of a turn, in order: "what is 2+2" -> ["2", "+", "2"]."""
    return re.findall(r"\d+|[^\w\s]", exact_key(text))


def same_question_kind(turn: str, prompt: str) -> bool:
    """Whether a turn near a taught prompt may be asking the same: about the same person, with
    the same numbers and symbols ("what is 22" does not ask "what is 2+2")."""
    return same_person(turn, prompt) and _figures(turn) == _figures(prompt)


def _topic_words(text: str) -> set[str]:
    return set(re.findall(r"\w+", normalise(text))) - _FUNCTION_WORDS


def same_topic(turn: str, prompt: str, similarity: float) -> bool:
    """Whether two near questions are about the same thing: they share a topic word, neither
    has one ("how are you?"), or the encoder finds them nearly the same."""
    words, taught = _topic_words(turn), _topic_words(prompt)
    return similarity >= CERTAIN_THRESHOLD or bool(words & taught) or not (words or taught)


def same_person(turn: str, prompt: str) -> bool:
    """Whether two questions are about the same person: "what is my name?" is not "what is
    your name?", nor "how old are they?" "how old are you?"."""
    return _persons(turn) == _persons(prompt)
