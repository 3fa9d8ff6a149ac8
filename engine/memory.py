"""Corrections as an immediate memory: the first source of the `pool` strategy's candidates.

A correction says what the bot should have answered to one user turn (its prompt). A new turn
brings a taught reply into the pool when it asks the same question:
- exactly, after folding case, spacing and sentence punctuation (symbols and digits count, so
  "what is 22" is not "what is 2+2"): the taught reply is the reply;
- in other words: the two turns ask about the same person (a question about "you" is not one
  about "me" or "them") with the same figures, and a score of three measures reaches
  `NEAR_THRESHOLD`: how near the two turns are in meaning (the cosine of their turn vectors),
  the idf-weighted overlap of their topic words (plurals and British spellings folded), and how
  much likelier the backward model finds the turn after the taught reply than after a reply
  that fits anything. The turn vectors are the turn encoder's (engine/turn_encoder.py, distilled
  from a sentence encoder) when the model has one beside its reply index, else the mean of the
  chat model's encoder outputs; each has its own weights (`TURN_ENCODER_GATE`, `MODEL_GATE`).
  Two turns without a topic word in common must be the gate's `certain` cosine near; with the
  turn encoder, a question that names no one ("any siblings?") may ask what one about "you"
  asks. The taught reply then joins the pool with its gate's `bonus`, and the seq2seq scorer
  decides whether it fits.
A reply the user liked is taught the same way (`Correction.source` is `ReplySource.LIKED`) with
`LIKED_SHARE` of the bonus; a correction of a question beats a like of it. The latest correction
of a prompt wins. No Qt, no SQLAlchemy: the app hands `Correction`s in (oldest first) and reads
the `MemoryMatch` on a reply.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from engine.batching import encode_context
from engine.data import normalise
from engine.decoding.pool import TAUGHT_BONUS, PoolEntry
from engine.decoding.rerank import backward_terms
from engine.reply import Alternative
from engine.sources import ReplySource
from engine.tokenizer import BOS_ID, EOS_ID

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
_FIRST_PERSON = _FIRST_PERSON_ONLY | {"i", "im", "ive", "id", "ill", "we", "us", "our", "ours"}
EXACT_BONUS = 100.0  # the same question: the taught reply is the reply
# Words that carry no topic: two questions that share none of the rest ask about different
# things ("what is your favorite color?" is not "what's your favorite food?") unless the encoder
# puts them its gate's `certain` near (the backward fit cannot tell "what's your favorite smell?"
# from a rewording of the food question).
_FUNCTION_WORDS = frozenset(
    """a an the and or but if of to in on at for with from by about as into like than then so
    is are was were be been being am do does did doing have has had having will would can could
    shall should may might must what whats which who whom whose where when why how any some
    i me my mine myself you your yours yourself u ur he him his she her hers it its we us our
    they them their this that these those there here not no yes very really just too also
    favorite favourite best most much many more lot get got go going""".split()  # noqa: SIM905
)
# "colour" -> "color", "favourites" -> "favorites" (not "your", "hour": three letters before)
_BRITISH = re.compile(r"(?<=[a-z]{3})our(?=ite|s|ed|ing|$)")


@dataclass(frozen=True)
class Gate:
    """A near match's score for one kind of turn vector: cosine_weight * cosine +
    lexical_weight * topic-word overlap + backward_weight * backward fit, against
    `NEAR_THRESHOLD`. Two turns that share no topic word must be `certain` near (a cosine),
    and a question that names no one ("any siblings?") asks what one about "you" asks when
    the two are `unnamed` near (in a chat with the bot, it asks the bot). A taught reply that
    passed joins the pool with `bonus`."""

    cosine_weight: float
    lexical_weight: float
    backward_weight: float
    certain: float
    unnamed: float = math.inf
    bonus: float = TAUGHT_BONUS


NEAR_THRESHOLD = 0.80
# Both chosen on the first 12 of bench/teach_pool.py's 24 taught questions (each in two other
# wordings) against 3,000 chitchat validation turns other than the bench's, then measured on
# all 24: the figures are in bench/teach_pool.py's docstring. The chat model's encoder put 12
# of 48 rewordings within 0.70 of their question; most of the rest share no word with it, and
# that encoder and the backward model cannot tell them from other questions.
MODEL_GATE = Gate(cosine_weight=1.0, lexical_weight=0.5, backward_weight=0.25, certain=0.85)
# The turn encoder can: the tuning rewordings at 0.53-0.95 of their question, turns asking
# something else mostly below 0.7; topic-word overlap then adds nothing the cosine lacks. It
# puts answers near their question too ("I live in Arizona" near "where do you live?"): the
# person check stops those. The weights allow as many false matches per taught question as
# the bench's 1% over 24 questions (13 of the 3,000 turns for the 12; these: 11, and 17 of
# the 24 tuning rewordings, against 20 and 20 at 1.5 times the rate). The pool's scorer
# does not tell a rewording from another question (the taught reply trailed the best other
# candidate by up to 6.7 before its bonus, for both), so the gate decides: `bonus` 7.5
# keeps out only a taught reply the scorer finds farther off than any tuning rewording.
TURN_ENCODER_GATE = Gate(
    cosine_weight=0.9,
    lexical_weight=0.0,
    backward_weight=0.3,
    certain=0.7,
    unnamed=0.85,
    bonus=7.5,
)
SHORTLIST = 8  # prompts whose taught reply the backward model weighs for one turn
# Replies that fit any question: the backward model's log p(turn | taught reply) counts only
# by how much it beats log p(turn | these), so a turn likely after anything gains nothing.
NEUTRAL_REPLIES = ("ok.", "yes.", "no.", "i don't know.", "haha")
SCORE_MARGIN = 2.5  # nats per token the taught reply may trail the model's own reply by
LIKED_SHARE = 0.5  # a liked reply's bonus against a correction's: corrections beat likes


@dataclass(frozen=True)
class Correction:
    prompt: str  # the user turn the corrected reply answered
    reply: str  # what the user said the bot should have answered
    when: str = ""  # when it was made, as the app wants it shown (e.g. an ISO date)
    source_id: int | None = None  # the app's id for it (the corrected or liked message)
    source: ReplySource = ReplySource.CORRECTION  # LIKED: a reply the user rated up
    origin: str = ""  # where it was made, for Details (the liked reply's conversation)

    @property
    def shown_origin(self) -> str:
        """Where the taught reply came from, as a reply's provenance says it."""
        return self.origin or f"your correction of {self.when or 'a reply'}"


@dataclass(frozen=True)
class MemoryMatch:
    correction: Correction
    exact: bool
    similarity: float  # cosine of the two turns' vectors (1.0 for an exact match)
    taught_score: float | None  # mean log-prob per token of the taught reply (None: not scored)
    model_score: float | None  # the same for the model's own reply
    chosen: bool  # the taught reply is the reply
    score: float | None = None  # a near match's gate score (see NEAR_THRESHOLD)

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
            "score": None if self.score is None else round(self.score, 4),
            "source": self.correction.source.value,
            "taught_score": self.taught_score,
            "model_score": self.model_score,
            "chosen": self.chosen,
        }


class CorrectionMemory:
    """The corrections a chatbot consults; their prompts' vectors are cached per model (or per
    turn encoder)."""

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
        """Replace the corrections (the latest one for a prompt wins, and a like never
        displaces a correction); cached vectors stay."""
        by_prompt: dict[str, Correction] = {}
        for correction in corrections:
            key = exact_key(correction.prompt)
            held = by_prompt.get(key)
            if not key or not correction.reply.strip():
                continue
            if held is None or correction.source is not ReplySource.LIKED or _liked(held):
                by_prompt[key] = correction
        self._by_prompt = by_prompt

    def __len__(self) -> int:
        return len(self._by_prompt)

    def gate(self, bot: Chatbot) -> Gate:
        """The near-match weights for the turn vectors `vector` gives with `bot`."""
        return MODEL_GATE if bot.turn_encoder() is None else TURN_ENCODER_GATE

    @torch.inference_mode()
    def vector(self, bot: Chatbot, turn: str) -> torch.Tensor:
        """One turn's vector, unit length: the turn encoder's when the model has one beside
        its reply index, else the chat model's encoder outputs, averaged."""
        encoder = bot.turn_encoder()
        if encoder is not None:
            return encoder.encode([" ".join(turn.split())])[0]
        text = normalise(turn) or " ".join(turn.split())
        ids = encode_context(bot.tokenizer, [text], bot.config)
        src = torch.tensor([ids], device=bot.device)
        memory, _ = bot.model.encode(src, torch.tensor([len(ids)]))
        mean = memory.outputs[0].float().mean(dim=0)  # (H,)
        return torch.nn.functional.normalize(mean, dim=0).cpu()

    def _prompt_vectors(self, bot: Chatbot) -> tuple[list[str], torch.Tensor]:
        encoder = bot.turn_encoder()
        source = bot.model if encoder is None else encoder
        if self._model is not source:  # another model or encoder: other vectors
            self._vectors, self._model = {}, source
        keys = list(self._by_prompt)
        for key in keys:
            if key not in self._vectors:
                self._vectors[key] = self.vector(bot, self._by_prompt[key].prompt)
        return keys, torch.stack([self._vectors[key] for key in keys])  # (N, H)

    def lookup(self, bot: Chatbot, turn: str) -> MemoryMatch | None:
        """The correction whose prompt asks what `turn` asks (exact first, else the best near
        match: a correction before a like, then the highest score), not yet scored by the
        pool; None when none does."""
        key = exact_key(turn)
        if not key or not self._by_prompt:
            return None
        if key in self._by_prompt:
            return MemoryMatch(self._by_prompt[key], True, 1.0, None, None, chosen=True)
        gate = self.gate(bot)
        keys, vectors = self._prompt_vectors(bot)
        similarities = (vectors @ self.vector(bot, turn)).tolist()  # (N,)
        # The turn encoder's gate weighs no topic words: their idf lookups are skipped.
        words = topic_weights(bot, turn) if gate.lexical_weight else {}
        rows = []  # (cosine and lexical terms, cosine, correction): the same kind of question
        for key, similarity in zip(keys, similarities):
            taught = self._by_prompt[key]
            if same_question_kind(turn, taught.prompt) or (
                similarity >= gate.unnamed and unnamed_asks_you(turn, taught.prompt)
            ):
                lexical = overlap(words, topic_weights(bot, taught.prompt)) if words else 0.0
                base = gate.cosine_weight * similarity + gate.lexical_weight * lexical
                rows.append((base, similarity, taught))
        shortlist = sorted(rows, key=lambda row: row[0], reverse=True)[:SHORTLIST]
        fits = backward_fit(bot, turn, [row[2].reply for row in shortlist])
        matches = [
            MemoryMatch(correction, False, sim, None, None, False, score=score)
            for (base, sim, correction), fit in zip(shortlist, fits)
            if (score := base + gate.backward_weight * fit) >= self.threshold
            and same_topic(turn, correction.prompt, sim, certain=gate.certain)
        ]
        return max(matches, key=lambda m: (not _liked(m.correction), m.score), default=None)

    def pool_entries(self, bot: Chatbot, turn: str) -> tuple[list[PoolEntry], MemoryMatch | None]:
        """The taught reply for `turn`, as the pool's first candidate, and its match."""
        match = self.lookup(bot, turn)
        if match is None:
            return [], None
        correction = match.correction
        text = " ".join(correction.reply.split())
        bonus = EXACT_BONUS if match.exact else self.gate(bot).bonus
        entry = PoolEntry(
            text,
            tuple(bot.tokenizer.encode(text)),
            correction.source,
            origin=correction.shown_origin,
            bonus=bonus * LIKED_SHARE if _liked(correction) else bonus,
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
        source, origin = match.correction.source, match.correction.shown_origin
        candidate = Alternative(taught, taught_score, True, source=source, origin=origin)
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
            source=source,
            origin=origin,
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


def unnamed_asks_you(turn: str, prompt: str) -> bool:
    """Whether one of two questions with the same figures names no one and the other asks
    about "you": put to the bot, "any siblings?" asks "do you have any siblings?"."""
    if _figures(turn) != _figures(prompt):
        return False
    you = (True, False, False)
    for unnamed, named in ((turn, prompt), (prompt, turn)):
        words = set(re.findall(r"\w+", normalise(unnamed).replace("'", "")))
        names_no_one = not words & (_SECOND_PERSON | _THIRD_PERSON | _FIRST_PERSON)
        if names_no_one and unnamed.rstrip().endswith("?") and _persons(named) == you:
            return True
    return False


def _liked(correction: Correction) -> bool:
    return correction.source is ReplySource.LIKED


def _stem(word: str) -> str:
    """A topic word with its plural and British spelling folded: "colours" -> "color"."""
    word = _BRITISH.sub("or", word)
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _topic_words(text: str) -> list[str]:
    return [word for word in re.findall(r"\w+", normalise(text)) if word not in _FUNCTION_WORDS]


def topic_weights(bot: Chatbot, text: str) -> dict[str, float]:
    """A turn's topic words, folded (`_stem`), each weighed by its rarity in the reply index
    (1 for every word without one)."""
    words = _topic_words(text)
    weights = bot.index.weights(words) if bot.index is not None else dict.fromkeys(words, 1.0)
    return {_stem(word): weights[word] for word in words}


def overlap(first: dict[str, float], second: dict[str, float]) -> float:
    """The weighted cosine of two turns' topic words, 0..1 (0 when either has none)."""
    shared = sum(weight * second[word] for word, weight in first.items() if word in second)
    norm = math.sqrt(sum(w * w for w in first.values()) * sum(w * w for w in second.values()))
    return shared / norm if norm else 0.0


def backward_fit(bot: Chatbot, turn: str, replies: Sequence[str]) -> list[float]:
    """For each reply, log p(turn | reply) per token of the turn under the backward model, less
    its mean after `NEUTRAL_REPLIES`; 0 for each without a backward model."""
    if bot.backward is None or not replies:
        return [0.0] * len(replies)
    texts = [*replies, *NEUTRAL_REPLIES]
    ids = [[*bot.tokenizer.encode(text), EOS_ID] for text in texts]
    terms = backward_terms(bot.backward, bot.tokenizer, ids, turn, bot.device)
    neutral = sum(terms[len(replies) :]) / len(NEUTRAL_REPLIES)
    return [term - neutral for term in terms[: len(replies)]]


def same_topic(
    turn: str, prompt: str, similarity: float, *, certain: float = MODEL_GATE.certain
) -> bool:
    """Whether two near questions are about the same thing: they share a topic word (folded),
    neither has one ("how are you?"), or both have one and their vectors are `certain` near
    ("what do you like?" asks more than "what do you do for work?")."""
    words = {_stem(word) for word in _topic_words(turn)}
    taught = {_stem(word) for word in _topic_words(prompt)}
    if words & taught or not (words or taught):
        return True
    return bool(words) and bool(taught) and similarity >= certain


def same_person(turn: str, prompt: str) -> bool:
    """Whether two questions are about the same person: "what is my name?" is not "what is
    your name?", nor "how old are they?" "how old are you?"."""
    return _persons(turn) == _persons(prompt)
