"""The persona facts that `bench/finetune.py --teach N` teaches, and how it measures them.

Each fact is (question as taught, the taught answer, the question reworded). Recall counts a
reply when every key content word of the answer is in it (`engine.finetune.recalled`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from chatapp.correction_memory import to_corrections
from chatapp.store.records import CorrectionRecord
from engine.chatbot import Chatbot
from engine.data import read_chitchat, split_of
from engine.decoding.config import DecodeConfig
from engine.finetune import RECALL_CONFIG, recalled
from engine.memory import CorrectionMemory, normalise

# The likeliest reply, for comparison (the measure of the first version of this bench).
BEAM = DecodeConfig(
    strategy="beam", beam_size=5, length_penalty=1.0, no_repeat_ngram_size=3, n_best=5,
    repetition_penalty=1.0,
)  # fmt: skip

FACTS: list[tuple[str, str, str]] = [
    ("what's your name?", "my name is ada.", "what should i call you?"),
    ("do you have any pets?", "yes, a cat called pixel.", "have you got a pet?"),
    ("where do you live?", "i live in lisbon.", "which city do you live in?"),
    ("what do you do for work?", "i am a lighthouse keeper.", "what is your job?"),
    ("how old are you?", "i am thirty four.", "what is your age?"),
    ("what's your favorite food?", "i love mushroom risotto.", "what food do you like best?"),
    ("what's your favorite color?", "teal, like the sea.", "which colour do you like best?"),
    ("do you have any siblings?", "one brother, named tomas.", "do you have brothers or sisters?"),
    ("what music do you like?", "mostly old jazz records.", "what kind of music do you listen to?"),
    ("what do you do for fun?", "i build model sailboats.", "what are your hobbies?"),
    ("what's your favorite book?", "moby dick, every winter.", "which book do you love most?"),
    ("do you play any sports?", "i swim in the ocean every morning.", "do you do any sport?"),
    ("what's your favorite movie?", "spirited away.", "which film do you like best?"),
    ("are you married?", "no, but i have a partner called rui.", "do you have a partner?"),
    ("what languages do you speak?", "portuguese and english.", "which languages can you speak?"),
    ("what's your favorite season?", "autumn, for the storms.", "which season do you like most?"),
    ("do you drink coffee?", "only green tea for me.", "are you a coffee drinker?"),
    ("what car do you drive?", "i ride a red bicycle.", "do you have a car?"),
    ("where did you grow up?", "in a village near porto.", "where were you raised?"),
    ("what did you study?", "marine biology.", "what was your major in college?"),
    ("what's your favorite animal?", "the octopus.", "which animal do you like best?"),
    ("can you cook?", "yes, my bread is famous.", "are you a good cook?"),
    ("what time do you wake up?", "at five, before sunrise.", "when do you get up in the morning?"),
    ("what are you afraid of?", "deep caves scare me.", "what scares you?"),
    ("what's your favorite holiday?", "midsummer night.", "which holiday do you like most?"),
    (
        "where would you like to travel?",
        "i dream of iceland.",
        "where do you want to go on a trip?",
    ),
    ("what's your favorite drink?", "cold lemonade.", "what do you like to drink?"),
    ("do you play an instrument?", "i play the accordion.", "can you play any instrument?"),
    ("what's your star sign?", "i am a scorpio.", "what is your zodiac sign?"),
    ("what's your favorite flower?", "sunflowers.", "which flowers do you like?"),
]


def varied(question: str) -> str:
    """The same question typed again: a word in front, a contraction spelt out, no "?"."""
    return "so " + question.replace("what's", "what is").rstrip("?")


def unrelated_turns(count: int, prompts: set[str]) -> list[str]:
    """Chitchat validation turns that are not one of the taught questions."""
    turns: list[str] = []
    for conversation in read_chitchat():
        if split_of(conversation.key) != "valid":
            continue
        turns += [turn for turn in conversation.turns if normalise(turn) not in prompts]
        if len(turns) >= count:
            break
    return turns[:count]


def _recall(
    bot: Chatbot, questions: Sequence[str], answers: Sequence[str], config: Any = RECALL_CONFIG
) -> dict[str, Any]:
    hits, from_memory = 0, 0
    for question, answer in zip(questions, answers):
        reply = bot.reply([question], config)
        hits += recalled(reply.text, answer, question)
        from_memory += bool(reply.memory and reply.memory.chosen)
    return {"recall": round(hits / len(questions), 4), "from_memory": from_memory}


def _similarities(
    bot: Chatbot, memory: CorrectionMemory, questions: Sequence[str], turns: Sequence[str]
) -> dict[str, Any]:
    """How near reworded questions come to their own prompt, and unrelated turns to any."""
    prompts = torch.stack([memory.vector(bot, question) for question in questions])  # (N, H)
    own = [float(prompts[i] @ memory.vector(bot, text)) for i, text in enumerate(turns[0])]
    unrelated = torch.stack([memory.vector(bot, turn) for turn in turns[1]]) @ prompts.T
    best = unrelated.max(dim=1).values.sort(descending=True).values

    def share_at_least(values: Sequence[float], threshold: float) -> float:
        return round(sum(value >= threshold for value in values) / max(len(values), 1), 4)

    return {
        "reworded_to_own_prompt": {
            "min": round(min(own), 4), "median": round(sorted(own)[len(own) // 2], 4),
            "matched_at_threshold": share_at_least(own, memory.threshold),
        },
        "unrelated_best_match": {
            "max": round(float(best[0]), 4), "p99": round(float(best[len(best) // 100]), 4),
            "median": round(float(best[len(best) // 2]), 4),
            "matched_at_threshold": share_at_least(best.tolist(), memory.threshold),
        },
        "threshold": memory.threshold,
    }  # fmt: skip


def measure_teaching(
    base: Path,
    tuned: Path | None,
    records: Sequence[CorrectionRecord],
    *,
    facts: int,
    unrelated: int,
) -> dict[str, Any]:
    questions = [fact[0] for fact in FACTS[:facts]]
    answers = [fact[1] for fact in FACTS[:facts]]
    reworded = [fact[2] for fact in FACTS[:facts]]
    turns = unrelated_turns(unrelated, {normalise(question) for question in questions})
    bot = Chatbot.load(tuned or base, device="cpu")
    memory = CorrectionMemory(to_corrections(records))
    report: dict[str, Any] = {"model_measured": "fine-tuned" if tuned else "base"}
    variants = [varied(question) for question in questions]
    report["recall_decoding"] = "the precise preset (as `finetune` reports); *_beam: beam search"
    report["memory_off"] = {
        "taught": _recall(bot, questions, answers),
        "taught_beam": _recall(bot, questions, answers, BEAM),
        "varied": _recall(bot, variants, answers),
        "reworded": _recall(bot, reworded, answers),
    }
    bot.memory = memory
    false_matches = sum(memory.lookup(bot, turn) is not None for turn in turns)
    report["memory_on"] = {
        "taught": _recall(bot, questions, answers),
        "taught_beam": _recall(bot, questions, answers, BEAM),
        "varied": _recall(bot, variants, answers),
        "reworded": _recall(bot, reworded, answers),
        "false_matches_on_unrelated": false_matches,
        "unrelated_turns": len(turns),
    }
    report["similarity_varied"] = _similarities(bot, memory, questions, (variants, turns))
    report["similarity_reworded"] = _similarities(bot, memory, questions, (reworded, turns))
    return report
