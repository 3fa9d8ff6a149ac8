"""Teaching through the pool: how often a correction answers its own question, the question in
two other wordings, and turns it should leave alone (prints JSON).

24 questions with a taught answer and two rewordings each (`bench/data/taught_questions.json`)
become corrections; the shipped model answers with the default preset, memory on. Unrelated
turns are the first 2,000 distinct user turns of the chitchat validation split: a correction can
only answer one whose gate it passes (`CorrectionMemory.lookup`), so only those are answered in
full. The latest correction of a question must win: a second, older correction of every question
is taught first and must never answer. The gate's weights and thresholds (engine/memory.py)
were chosen on the first `TUNING` questions; `tuning` and `held_out` report each half apart.

Measured on the shipped model (CPU): the encoder cosine gate alone (>= 0.70, a shared topic
word) answered 24/24 questions and 12/48 rewordings (tuning 5/24, held out 7/24), 4/2,000
unrelated turns; with the topic-word overlap and the backward fit 24/24, 21/48 (tuning 10/24,
held out 11/24) and 7/2,000 (0.35%; six of them the same question in fact: "Ah I see. What do
you do for work?"). With the turn encoder beside the reply index (its cosine in place of the
chat model's, `TURN_ENCODER_GATE`): 24/24, 28/48 (tuning 17/24, held out 11/24) and 11/2,000
(0.55%; most of them the same question: "So what do you like to do for fun?", "What are you
majoring in?"). Not yet the issue's 80% of rewordings: "who am i talking to?" and "any
animals at home?" name no one (the second at 0.82, below `unnamed`), and the other 18 that
miss are 0.33-0.86 near their question in the turn encoder, as near as other questions among
the chat turns come (0.7-0.85 for "what is your favorite cookie?" to the food question).

    python bench/teach_pool.py [--model DIR] [--unrelated 2000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from engine.chatbot import Chatbot
from engine.data import read_chitchat, split_examples
from engine.decoding.config import PRESETS
from engine.memory import Correction, CorrectionMemory
from engine.sources import ReplySource

FACTS = Path(__file__).with_name("data") / "taught_questions.json"
TUNING = 12  # the questions the gate was tuned on; the rest are held out


def rate(hits: list[bool]) -> dict[str, float]:
    return {"taught": sum(hits), "of": len(hits), "rate": round(sum(hits) / max(len(hits), 1), 3)}


def unrelated_turns(count: int) -> list[str]:
    valid = split_examples(read_chitchat(), context_turns=1)["valid"]
    turns: dict[str, str] = {}
    for example in valid:
        turns.setdefault(example.context[-1].casefold(), example.context[-1])
        if len(turns) == count:
            break
    return list(turns.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--unrelated", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    facts = json.loads(FACTS.read_text())
    bot = Chatbot.load(args.model, device="cpu")
    stale = [Correction(question, f"an older answer {i}.", when="1") for i, (question, *_)
             in enumerate(facts)]  # fmt: skip
    taught = [Correction(question, answer, when="2") for question, answer, *_ in facts]
    bot.memory = CorrectionMemory([*stale, *taught])
    config = PRESETS["balanced"]
    started = time.perf_counter()

    def answered(turn: str, answer: str, seed: int) -> bool:
        reply = bot.reply([turn], config.replace(seed=seed))
        return reply.source is ReplySource.CORRECTION and reply.text == answer

    report: dict[str, object] = {}
    hits: dict[int, list[bool]] = {}
    for column, name in ((0, "questions"), (2, "reworded_1"), (3, "reworded_2")):
        hits[column] = [answered(fact[column], fact[1], i) for i, fact in enumerate(facts)]
        report[name] = rate(hits[column])
    reworded = [(fact, hits[column][i]) for column in (2, 3) for i, fact in enumerate(facts)]
    for name, part in (("tuning", slice(0, TUNING)), ("held_out", slice(TUNING, None))):
        questions = set(map(tuple, facts[part]))
        report[name] = rate([hit for fact, hit in reworded if tuple(fact) in questions])
    report["missed"] = [fact[c] for c in (2, 3) for i, fact in enumerate(facts) if not hits[c][i]]
    turns = unrelated_turns(args.unrelated)
    gated = [turn for turn in turns if bot.memory.lookup(bot, turn) is not None]
    wrong = [turn for i, turn in enumerate(gated) if bot.reply([turn], config.replace(seed=i))
             .source is ReplySource.CORRECTION]  # fmt: skip
    report["unrelated"] = {
        "turns": len(turns),
        "passed_the_gate": len(gated),
        "answered_by_a_correction": len(wrong),
        "rate": len(wrong) / len(turns),
        "examples": wrong[:10],
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
