"""Measure a model for its card: test perplexity, generation metrics per preset, int8, fp16.

Prints one JSON object (and writes it to --json-out). The figures are the ones that
`main.py eval --model DIR --corpus chitchat --split test --generate N --preset P [--judge]`
prints: the same functions, the same prompts (the first N test examples) and the same
per-prompt seeds. With --judge (needs the [eval] extra) each preset, and each --compare model,
also gets the relevance judge's scores beside those of the real next turns.

    python bench/model_card.py --model resources/model --generate 1000 [--judge] \
        [--preset NAME ...] [--compare NAME=DIR ...] [--json-out card.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from engine import Chatbot
from engine.batching import encode_examples
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.decoding.config import PRESETS
from engine.judge import Judge, JudgeUnavailableError, load_judge
from engine.metrics import generation_metrics
from engine.pipeline import load_splits
from engine.tokenizer import EOS_ID, UNK_ID
from engine.train import evaluate_perplexity


def perplexities(bot: Chatbot, examples: list) -> dict[str, float]:
    encoded = encode_examples(examples, bot.tokenizer, bot.config)
    result: dict[str, float] = asdict(evaluate_perplexity(bot.model, encoded, device=bot.device))
    words = sum(len(bot.tokenizer.decode(t).split()) + (t[-1] == EOS_ID) for _, t in encoded)
    result["word_perplexity"] = math.exp(min(result["loss"] * result["tokens"] / words, 50.0))
    result["pieces_per_word"] = result["tokens"] / words
    # A word-level vocabulary scores every rare word as one cheap <unk>: charge each <unk> the
    # cost of picking uniformly among the test set's out-of-vocabulary words, so open- and
    # closed-vocabulary models compare on the same footing.
    unknown = sum(target.count(UNK_ID) for _, target in encoded)
    oov_types = {
        word
        for example in examples
        for word in example.response.split()
        if UNK_ID in bot.tokenizer.encode(word)
    }
    penalty = unknown * math.log(max(len(oov_types), 1))
    result["unk_rate"] = unknown / result["tokens"]
    result["unk_penalized_word_perplexity"] = math.exp(
        min((result["loss"] * result["tokens"] + penalty) / words, 50.0)
    )
    return result


def latency(bot: Chatbot, examples: list, preset: str, count: int = 100) -> float:
    config = (
        PRESETS[preset] if PRESETS[preset].seed is not None else PRESETS[preset].replace(seed=0)
    )
    times = []
    for example in examples[:count]:
        started = time.perf_counter()
        bot.reply(list(example.context), config)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def describe(bot: Chatbot, directory: Path) -> dict:
    files = {p.name: p.stat().st_size for p in directory.iterdir() if p.is_file()}
    return {
        "directory": str(directory),
        "parameters": bot.model.parameter_count(),
        "config": bot.config.to_dict(),
        "training": bot.checkpoint.record,
        "files_bytes": files,
        "size_bytes": sum(files.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", default="chitchat")
    parser.add_argument("--generate", type=int, default=1000)
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--compare-generate", type=int, default=300)
    parser.add_argument("--json-out")
    parser.add_argument(
        "--compare-only", action="store_true", help="measure only the --compare models"
    )
    parser.add_argument("--preset", action="append", choices=sorted(PRESETS),
                        help="measure this preset (repeat; default: every preset)")  # fmt: skip
    parser.add_argument("--judge", action="store_true",
                        help="add relevance, specificity, two guards ([eval] extra)")  # fmt: skip
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        judge = load_judge() if args.judge else None
    except JudgeUnavailableError as error:
        print(f"model_card.py: error: {error}", file=sys.stderr)
        return 2
    card: dict = {"compare": compare(args, judge)}
    if not args.compare_only:
        card.update(measure(args, judge))
    card["seconds"] = time.perf_counter() - started
    text = json.dumps(card, indent=2, ensure_ascii=False)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def compare(args: argparse.Namespace, judge: Judge | None) -> dict:
    """Other models (the baseline row) on the same test split: perplexity and "balanced"."""
    rows = {}
    for item in args.compare:
        name, _, directory = item.partition("=")
        other = Chatbot.load(directory, device="cpu")
        test = load_splits(args.corpus, context_turns=other.config.context_turns).test
        rows[name] = {
            "model": describe(other, Path(directory)),
            "test": perplexities(other, test),
            "balanced": generation_metrics(
                other, test[: args.compare_generate], PRESETS["balanced"], judge
            ),
        }
    return rows


def measure(args: argparse.Namespace, judge: Judge | None) -> dict:
    bot = Chatbot.load(args.model, device="cpu")
    test = load_splits(args.corpus, context_turns=bot.config.context_turns).test
    card: dict = {"model": describe(bot, Path(args.model)), "test_examples": len(test)}
    card["test"] = perplexities(bot, test)
    presets = args.preset or list(PRESETS)
    card["presets"] = {
        name: generation_metrics(bot, test[: args.generate], PRESETS[name], judge)
        for name in presets
    }
    card["latency_ms_per_reply"] = {name: latency(bot, test, name) for name in presets}
    quantized = Chatbot.load(args.model, device="cpu", quantize="int8")
    card["int8"] = {
        "test": perplexities(quantized, test),
        "latency_ms_per_reply": {name: latency(quantized, test, name) for name in presets},
    }
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = load_checkpoint(args.model)
        for dtype in (torch.float32, torch.float16):
            target = Path(folder) / str(dtype)
            save_checkpoint(target, model=checkpoint.model, tokenizer=checkpoint.tokenizer,
                            record=checkpoint.record, weights_dtype=dtype)  # fmt: skip
            stored = Chatbot.load(target, device="cpu")
            card[f"stored_{str(dtype).removeprefix('torch.')}"] = {
                "size_bytes": (target / "model.safetensors").stat().st_size,
                "test_perplexity": perplexities(stored, test)["perplexity"],
            }
    return card


if __name__ == "__main__":
    sys.exit(main())
