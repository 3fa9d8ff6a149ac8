"""Which decoding settings answer what was said? Judge several settings on the same prompts.

For each named setting, the replies to the first N test prompts (sampling seeded with each
prompt's index, as `eval` does) are scored by the relevance judge (`[eval]` extra) and by the
word-level metrics of `eval --generate`, plus the share of "I don't know"-type replies. The
human reference (the real next turns) is scored once, the same way. Prints one JSON object.

    python bench/decoding_sweep.py --model resources/model --prompts 400 \\
        --setting balanced --setting precise --setting rerank:mmi_weight=0.5,temperature=0.6

A setting is a preset name, or `STRATEGY:knob=value,...` over the `balanced` preset. With
`--scorer anti-lm` the backward model is set aside (to compare the two MMI scorers).

`--prompts-file bench/data/everyday_prompts.txt` judges one-line openers instead (40 everyday
messages written for this bench, one a line; no human reference then), and `--runs R` repeats
every setting with R different seeds and averages, since one run over 40 prompts is noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from engine.chatbot import Chatbot
from engine.data import Example
from engine.decoding.config import PRESETS, DecodeConfig, decode_preset
from engine.judge import load_judge
from engine.metrics import generation_metrics
from engine.pipeline import load_splits


def parse_setting(text: str) -> tuple[str, DecodeConfig]:
    if text in PRESETS:
        return text, decode_preset(text)
    strategy, _, knobs = text.partition(":")
    changes: dict[str, object] = {"strategy": strategy}
    for item in filter(None, knobs.split(",")):
        name, _, value = item.partition("=")
        changes[name] = float(value) if "." in value else int(value)
    return text, DecodeConfig.from_dict({**decode_preset("balanced").to_dict(), **changes})


def mean_of(values: list[object]) -> object:
    """The mean of numbers; anything else (lists, text) as the first run had it."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sum(values) / len(values)  # type: ignore[arg-type]
    return values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/model")
    parser.add_argument("--corpus", default="chitchat")
    parser.add_argument("--prompts", type=int, default=400)
    parser.add_argument("--setting", action="append", required=True)
    parser.add_argument("--scorer", choices=("auto", "anti-lm"), default="auto")
    parser.add_argument("--prompts-file", type=Path, help="one opener a line, instead of --corpus")
    parser.add_argument("--runs", type=int, default=1, help="seeds per setting, averaged")
    parser.add_argument("--json-out", help="also write the JSON here")
    args = parser.parse_args()
    # Every setting is checked before anything runs: a typo in the last should not cost the
    # minutes the others take.
    settings = [parse_setting(text) for text in args.setting]
    torch.set_num_threads(1)
    bot = Chatbot.load(args.model, device="cpu")
    if args.scorer == "anti-lm":
        bot.backward = None
    if args.prompts_file:
        lines = args.prompts_file.read_text(encoding="utf-8").splitlines()
        examples = [Example((line.strip(),), "") for line in lines if line.strip()]
    else:
        examples = load_splits(args.corpus, context_turns=bot.config.context_turns).test
        examples = [example for example in examples if example.context][: args.prompts]
    judge = load_judge()
    result: dict[str, object] = {"model": args.model, "rerank_scorer": bot.mmi_scorer,
                                 "prompts": len(examples), "settings": {}}  # fmt: skip
    for name, config in settings:
        started = time.perf_counter()
        runs = [
            generation_metrics(bot, examples, config, judge, seed_offset=run * 100_003)
            for run in range(args.runs)
        ]
        metrics = {key: mean_of([run[key] for run in runs]) for key in runs[0]}
        replies = [sample["reply"] for sample in runs[0]["samples"]]
        model_scores = [run["judge"]["model"] for run in runs]
        if not args.prompts_file:
            result["human"] = runs[0]["judge"]["human"]
        result["settings"][name] = {  # type: ignore[index]
            **{key: mean_of([scores[key] for scores in model_scores]) for key in model_scores[0]},
            "runs": args.runs,
            **{key: metrics[key] for key in ("distinct_2", "generic_reply_rate",
                                             "avg_reply_words", "empty_replies", "ms_per_reply")},
            "uncertain_reply_rate": metrics["uncertain_reply_rate"],
            "top_replies": metrics["top_replies"],
            "first_replies": replies[:8],
            "seconds": round(time.perf_counter() - started, 1),
        }  # fmt: skip
        print(json.dumps({name: result["settings"][name]}), file=sys.stderr)  # type: ignore[index]
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
