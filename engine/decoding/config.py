"""Every decoding knob in one validated, JSON-friendly dataclass, plus the named presets."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError
from engine.knobs import Knob

STRATEGIES = ("greedy", "beam", "sample", "rerank", "pool")


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]  # the first is the default
    help: str


# The knobs that take one of a few words, beside the numeric ones of `KNOBS`: the settings
# panel (a list), the command-line flags (choices) and the API server are built from it too.
CHOICE_KNOBS: dict[str, Choice] = {
    "candidate_search": Choice(
        ("sample", "beam"),
        "Rerank and pool: the model's candidates are samples, or beam search's n-best (MMI-bidi).",
    ),
    "refine": Choice(
        ("retrieved", "none"),
        "Retrieve-and-refine models: read the pool's best reply people wrote before writing "
        "(retrieved), or write alone (none).",
    ),
}


# Ranges and one-line help for every numeric knob; the settings panel, the command-line flags
# and the API server are built from this table.
KNOBS: dict[str, Knob] = {
    "max_length": Knob(1, 200, "Longest reply, in tokens.", integer=True),
    "min_length": Knob(
        0, 200, "Shortest reply, in tokens (the end token is held back).", integer=True
    ),
    "beam_size": Knob(
        1, 16, "Beam search: how many partial replies are kept each step.", integer=True
    ),
    "length_penalty": Knob(0.0, 3.0, "Beam search: higher favours longer replies."),
    "no_repeat_ngram_size": Knob(
        0, 10, "Never repeat an n-gram of this size (0: off).", integer=True
    ),
    "n_best": Knob(1, 16, "Beam search: how many ranked alternatives to return.", integer=True),
    "temperature": Knob(0.05, 5.0, "Sampling: below 1 is safer, above 1 is wilder."),
    "top_k": Knob(0, 1000, "Sampling: only the k likeliest tokens (0: off).", integer=True),
    "top_p": Knob(0.01, 1.0, "Sampling: the smallest set of tokens holding this probability."),
    "repetition_penalty": Knob(1.0, 3.0, "Makes tokens already said less likely (1: off)."),
    "block_context_ngrams": Knob(
        0, 10, "Never copy an n-gram of this size from your turn (0: off).", integer=True
    ),
    "candidates": Knob(
        2, 64, "Rerank and pool: how many candidates are sampled (or beams searched).",
        integer=True,
    ),
    # Up to 20, so that the default (10) is not the most one may ask for: on 1,000 test prompts
    # specificity still rose from λ 3 to 5, 7 and 10 (MODEL_CARD.md).
    "mmi_weight": Knob(
        0.0, 20.0, "Rerank: how much a reply must fit your turn in particular (0: likeliest)."
    ),
    "anti_lm_weight": Knob(
        0.0, 2.0, "Rerank: how much a reply that could follow anything is held back (0: off)."
    ),
    "retrieved": Knob(
        0, 64, "Pool: how many replies people wrote (training corpus) join the candidates.",
        integer=True,
    ),
    "similar": Knob(
        0, 64, "Pool: how many replies people wrote to turns nearest yours in meaning join.",
        integer=True,
    ),
    "generated_offset": Knob(
        -10.0, 10.0, "Pool: added to the model's own replies' scores (below 0: people's first)."
    ),
    "match_weight": Knob(
        0.0, 10.0, "Pool: how much a person's reply counts by how near its turn is to yours."
    ),
    "own_context_weight": Knob(
        0.0, 10.0, "Pool: holds back a person's reply that fitted its own chat better than yours."
    ),
    "fit_weight": Knob(
        0.0, 10.0, "Pool: how much a person's reply counts by its nearness in meaning to your turn."
    ),
    "fluency_floor": Knob(
        0.0, 10.0,
        "Rerank and pool: drop candidates this many nats per token less likely than the best.",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class DecodeConfig:
    # greedy | beam | sample | rerank (sample N, keep the best by MMI) | pool (rerank's samples,
    # replies people wrote and your corrections, scored on one scale: engine/decoding/pool.py)
    strategy: str = "sample"
    max_length: int = 32
    min_length: int = 1
    beam_size: int = 5
    length_penalty: float = 1.0  # GNMT alpha: scores are divided by ((5 + length) / 6) ** alpha
    no_repeat_ngram_size: int = 3
    n_best: int = 3
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.9
    repetition_penalty: float = 1.2
    seed: int | None = None  # None: a fresh seed each reply (reported in the reply)
    block_context_ngrams: int = 0
    candidates: int = 16  # rerank: replies sampled in one batch, or the beam's size
    # rerank and pool: where the model's candidates come from: "sample" (`candidates` samples)
    # or "beam" (beam search of `candidates` beams, its whole n-best: Li et al. 2016's
    # MMI-bidi, whose hypotheses stay fluent; no_repeat_ngram_size and min_length hold).
    candidate_search: str = "sample"
    # A model that reads exemplars (engine/refine.py): "retrieved" gives it the pool's best
    # reply people wrote before it writes; "none" lets it write alone. Other models ignore it.
    refine: str = "retrieved"
    # rerank: score = log p(reply | context) / length + mmi_weight * log p(context | reply) /
    # length of the context turn (backward model), or, without one, (log p(reply | context) -
    # mmi_weight / 10 * mean log p(reply | neutral contexts)) / length (anti-LM).
    mmi_weight: float = 0.5
    # rerank with a backward model: the best two are reordered with minus anti_lm_weight * mean
    # log p(reply | everyday turns) / length, which holds back replies likely after anything.
    anti_lm_weight: float = 0.0
    retrieved: int = 24  # pool: replies from the training corpus's index (engine/retrieval.py)
    # pool: replies people wrote to the turns nearest yours in meaning (engine/similar_turns.py)
    # beside the word search's; with the turn encoder, every such reply's similarity is its
    # turn's nearness to yours in meaning (0-1), not in words.
    similar: int = 0
    # pool: added to the score of a reply the model wrote, beside replies people wrote (whose
    # offset is 0): the two kinds do not share a scale (engine/decoding/pool.py).
    generated_offset: float = 0.0
    # pool: a reply people wrote loses match_weight * (1 - similarity), where similarity (0-1)
    # is how near the turn it answered is to yours (engine/retrieval.py): the nearer the
    # question, the likelier its answer fits.
    match_weight: float = 0.0
    # pool: a reply people wrote also loses own_context_weight * how much likelier (nats per
    # token) the model finds it after the turns it answered there than after yours: such a
    # reply leans on what was said before it ("you're welcome", after a thanks).
    own_context_weight: float = 0.0
    # pool: a reply people wrote gains fit_weight * its nearness in meaning to your turn (the
    # turn encoder's cosine, 0-1; nothing without the encoder): the word search and the match
    # term weigh the turn it answered, this the reply itself.
    fit_weight: float = 0.0
    # rerank and pool: a candidate whose log p(reply | context) per token trails the best one's
    # by more than this is dropped before MMI weighs them (0: off), so MMI cannot pick a reply
    # the model itself finds garbled.
    fluency_floor: float = 0.0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}"
            )
        for name, choice in CHOICE_KNOBS.items():
            if getattr(self, name) not in choice.values:
                raise ConfigError(
                    f"{name} must be one of {', '.join(choice.values)}, not {getattr(self, name)!r}"
                )
        for name, knob in KNOBS.items():
            value = getattr(self, name)
            if knob.integer and isinstance(value, float) and value.is_integer():
                value = int(value)  # 3.0 read from JSON is the integer 3
                object.__setattr__(self, name, value)
            if not knob.is_kind(value):
                kind = "an integer" if knob.integer else "a number"
                raise ConfigError(f"{name} must be {kind}, not {value!r}")
            if not knob.in_range(value):
                raise ConfigError(
                    f"{name} must be between {knob.low:g} and {knob.high:g}, not {value!r}"
                )
        if self.min_length > self.max_length:
            raise ConfigError(
                f"min_length ({self.min_length}) must not exceed max_length ({self.max_length})"
            )
        if self.strategy == "beam" and self.n_best > self.beam_size:
            raise ConfigError(
                f"n_best ({self.n_best}) must not exceed beam_size ({self.beam_size})"
            )
        if self.seed is not None and (
            not isinstance(self.seed, int)
            or isinstance(self.seed, bool)
            or not 0 <= self.seed < 2**63
        ):
            raise ConfigError(f"seed must be empty or an integer in [0, 2^63), not {self.seed!r}")

    def replace(self, **changes: Any) -> DecodeConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecodeConfig:
        if not isinstance(data, dict):
            raise ConfigError("decoding settings must be a JSON object")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown decoding setting(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> DecodeConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"decoding settings are not valid JSON: {error.msg}") from None
        return cls.from_dict(data)


PRESETS: dict[str, DecodeConfig] = {
    # The best-fitting of many candidates, always the same for the same conversation (a fixed
    # seed). Beam search, the classic "precise", answered "I don't know"-type replies to
    # 16-25% of test prompts in every setting tried (bench/decoding_sweep.py, MODEL_CARD.md).
    # No anti-LM term here: it also held back what a fine-tune taught (the taught reply becomes
    # likely after other turns too): 24 taught facts recalled 24 without it, 19 with it. λ 7
    # rather than 3: specificity on 1,000 test prompts 0.28 -> 0.37 (MODEL_CARD.md).
    "precise": DecodeConfig(
        strategy="rerank", candidates=32, temperature=0.9, top_k=40, top_p=0.9,
        repetition_penalty=1.2, no_repeat_ngram_size=3, mmi_weight=7.0, min_length=2, seed=0,
    ),
    # The pool: 32 replies people wrote (the training split, engine/retrieval.py) beside two of
    # the model's samples, scored by the seq2seq (MMI). Rated blind on 40 everyday prompts,
    # replies people wrote and chosen this way made sense 0.60-0.65 of the time, the model's
    # reranked samples 0.20-0.28, and mixing the two on one scale let the fluent-looking samples
    # win (0.28-0.50): so the model's own replies answer only when no reply people wrote is
    # found (generated_offset -10), e.g. for "?" or with a model without an index. λ 5, a
    # person's reply held back for a turn far from yours (match 3) and for leaning on its own
    # conversation (own context 4) rated best of six calibrations (MODEL_CARD.md).
    "balanced": DecodeConfig(
        strategy="pool", candidates=2, retrieved=32, temperature=0.9, top_k=40, top_p=0.95,
        repetition_penalty=1.2, no_repeat_ngram_size=3, mmi_weight=5.0, min_length=2,
        generated_offset=-10.0, match_weight=3.0, own_context_weight=4.0,
    ),
    # The model alone, every reply its own: beam search, no repeated trigram, two tokens at
    # least. The model card's generator figures are this preset's. MMI over beam search's
    # 32-beam n-best (λ 3) rated better on the 40 tuning prompts (SSA 0.28 against 0.16) but
    # not on the 48 held-out ones (0.19 against 0.21; sensible 0.27 against 0.38), so beam
    # search stays: `--candidate-search beam` gives the other.
    "model-only": DecodeConfig(
        strategy="beam", beam_size=5, n_best=5, no_repeat_ngram_size=3, min_length=2,
        repetition_penalty=1.0, length_penalty=1.0,
    ),
    # Wilder samples, still reranked, so surprise does not become word salad.
    "creative": DecodeConfig(
        strategy="rerank", candidates=16, temperature=1.1, top_k=0, top_p=0.95,
        repetition_penalty=1.3, no_repeat_ngram_size=3, mmi_weight=2.0,
    ),
}  # fmt: skip
DEFAULT_PRESET = "balanced"

# The values the built-in presets had in earlier versions, which saved a panel's settings as
# values only. Read back, such settings are the preset by name, so an upgrade brings the
# preset's better values instead of leaving the user on a "custom" copy of the old ones.
FORMER_PRESETS: dict[str, tuple[DecodeConfig, ...]] = {
    "precise": (
        DecodeConfig(strategy="beam", n_best=5, repetition_penalty=1.0),
        DecodeConfig(
            strategy="rerank", candidates=32, temperature=0.8, mmi_weight=3.0, seed=0,
        ),
        DecodeConfig(
            strategy="rerank", candidates=32, temperature=0.9, mmi_weight=3.0, seed=0,
        ),
        DecodeConfig(
            strategy="rerank", candidates=32, temperature=0.9, mmi_weight=3.0, seed=0,
            anti_lm_weight=1.0, min_length=2,
        ),
        DecodeConfig(
            strategy="rerank", candidates=32, temperature=0.9, mmi_weight=3.0, seed=0,
            min_length=2,
        ),
    ),
    "balanced": (
        DecodeConfig(strategy="sample"),
        DecodeConfig(strategy="rerank", temperature=0.9, mmi_weight=3.0),
        DecodeConfig(
            strategy="rerank", temperature=0.9, mmi_weight=3.0, anti_lm_weight=1.0, min_length=2,
        ),
        DecodeConfig(
            strategy="rerank", candidates=16, temperature=0.9, top_k=40, top_p=0.95,
            repetition_penalty=1.2, no_repeat_ngram_size=3, mmi_weight=10.0, anti_lm_weight=1.0,
            min_length=2,
        ),
    ),
    "creative": (
        DecodeConfig(strategy="sample", temperature=1.0, top_k=0, top_p=0.95,
                     repetition_penalty=1.3),
    ),
}  # fmt: skip


def decode_preset(name: str) -> DecodeConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown decoding preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def former_preset(config: DecodeConfig) -> str | None:
    """The built-in preset whose values `config` was in an earlier version, if any."""
    for name, former in FORMER_PRESETS.items():
        if config in former and config not in PRESETS.values():
            return name
    return None
