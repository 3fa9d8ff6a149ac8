"""How far turn vectors alone can take the memory's rewordings (prints JSON).

The memory gate (engine/memory.py) lets a taught reply answer a question in other words when
the two turns are near in meaning, and must leave unrelated chat alone. This bench asks what the
cosine alone allows: for `bench/data/taught_questions.json`'s 24 questions and their 48
rewordings, and the same 2,000 unrelated validation turns as `bench/teach_pool.py`, it sets the
threshold just above the Kth nearest unrelated turn (each turn's nearest taught question), for
K = 0.25%, 0.5% and 1% of the turns, and counts the rewordings nearer their own question than
that. Vectors: the model's turn encoder (what the app uses) and, with the `[eval]` extra,
all-MiniLM-L6-v2, the sentence encoder it was distilled from (the bound a better student could
reach).

    python bench/reword_bound.py [--model DIR] [--unrelated 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from teach_pool import FACTS, unrelated_turns

from engine.chatbot import Chatbot
from engine.judge import JudgeUnavailableError, load_judge

Encode = Callable[[Sequence[str]], torch.Tensor]
FALSE_MATCH_SHARES = (0.0025, 0.005, 0.01)


def bound(encode: Encode, facts: list[list[str]], unrelated: list[str]) -> dict[str, object]:
    questions = encode([fact[0] for fact in facts])
    rewordings = [(row, text) for row, fact in enumerate(facts) for text in fact[2:]]
    own = torch.stack(
        [
            vector @ questions[row]
            for (row, _), vector in zip(rewordings, encode([t for _, t in rewordings]))
        ]
    )
    nearest = (encode(unrelated) @ questions.T).max(1).values.sort(descending=True).values
    result: dict[str, object] = {}
    for share in FALSE_MATCH_SHARES:
        allowed = int(share * len(unrelated))
        threshold = float(nearest[allowed])  # `allowed` turns lie above it
        result[f"false_matches_{share:.2%}"] = {
            "threshold": round(threshold, 4),
            "rewordings": int((own > threshold).sum()),
            "of": len(rewordings),
        }
    result["rewording_cosine_median"] = round(float(own.median()), 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--unrelated", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    facts = json.loads(FACTS.read_text())
    unrelated = unrelated_turns(args.unrelated)
    bot = Chatbot.load(args.model, device="cpu")
    encoder = bot.turn_encoder()
    report: dict[str, object] = {"unrelated_turns": len(unrelated)}
    if encoder is None:
        report["turn_encoder"] = f"none: {bot.similar_problem}"
    else:
        report["turn_encoder"] = bound(encoder.encode, facts, unrelated)
    try:
        judge = load_judge()
        report["all_minilm_l6_v2"] = bound(
            lambda texts: torch.from_numpy(judge.encode(list(texts))), facts, unrelated
        )
    except JudgeUnavailableError as error:
        report["all_minilm_l6_v2"] = f"not installed ({error})"
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
