"""Which decoding settings answer what was said? Judge several settings on the same prompts.

For each named setting, the replies to the first N test prompts (sampling seeded with each
prompt's index, as `eval` does) are scored by the relevance judge (`[eval]` extra) and by the
word-level metrics of `eval --generate`, plus the share of "I don't know"-type replies. The
human reference (the real next turns) is scored once, the same way. Prints one JSON object.

    python bench/decoding_sweep.py --model resources/model --prompts 400 \\
        --setting balanced --setting precise --setting rerank:mmi_weight=0.5,temperature=0.6

A setting is a preset name, or `STRATEGY:knob=value,...` over the `balanced` preset. With
`--scorer anti-lm` the backward model is set aside (to compare the two MMI scorers).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/model")
    parser.add_argument("--corpus", default="chitchat")
    parser.add_argument("--prompts", type=int, default=400)
    parser.add_argument("--setting", action="append", required=True)
    parser.add_argument("--scorer", choices=("auto", "anti-lm"), default="auto")
    parser.add_argument("--json-out", help="also write the JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bot = Chatbot.load(args.model, device="cpu")
    if args.scorer == "anti-lm":
        bot.backward = None
    examples = load_splits(args.corpus, context_turns=bot.config.context_turns).test
    examples = [example for example in examples if example.context][: args.prompts]
    judge = load_judge()
    result: dict[str, object] = {"model": args.model, "rerank_scorer": bot.mmi_scorer,
                                 "prompts": len(examples), "settings": {}}  # fmt: skip
    for text in args.setting:
        name, config = parse_setting(text)
        started = time.perf_counter()
        metrics = generation_metrics(bot, examples, config, judge)
        replies = [sample["reply"] for sample in metrics.pop("samples")]
        judged = metrics.pop("judge")
        result["human"] = judged["human"]
        result["settings"][name] = {  # type: ignore[index]
            **judged["model"],
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
