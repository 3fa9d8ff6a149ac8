"""`main.py train`: train a model from a corpus into a model directory."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from chatapp.commands.common import CommandError, add_subcommand, device_of
from chatapp.commands.numbers import INT64_MAX, check_numbers
from chatapp.commands.progress import make_progress
from engine.checkpoint import check_model_folder
from engine.config import ATTENTION_KINDS, DIRECTIONS, PRESETS, SIZE_LIMITS, preset
from engine.errors import EngineError
from engine.knobs import Knob
from engine.strict_json import strict_dumps


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(subparsers, "train", help="train a model on a corpus")
    parser.add_argument("--corpus", required=True, help="chitchat | chatterbot | FILE.jsonl")
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the model already in --out (only its own files; nothing else is touched)",
    )
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--resume", metavar="DIR", help="continue training the model in DIR")
    parser.add_argument(
        "--init-from",
        metavar="DIR",
        help="start a new run from DIR's weights and tokenizer (e.g. a backward model from the "
        "forward one)",
    )
    parser.add_argument(
        "--tokenizer-from",
        metavar="DIR",
        help="train a new model of any shape on DIR's tokenizer, so it can use DIR's reply "
        "index and backward scorer",
    )
    parser.add_argument(
        "--exemplars",
        metavar="FILE",
        help="train a retrieve-and-refine model: each example also reads a reply people wrote, "
        "from FILE (made by `main.py exemplars`)",
    )
    parser.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default="forward",
        help="forward: context -> reply (a chat model); backward: reply -> the turn it answered "
        "(the scorer of `--strategy rerank`; ship it as the chat model's backward/ folder)",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-minutes", type=float, help="time budget for this run")
    parser.add_argument("--batch-tokens", type=int, default=6000)
    parser.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate")
    parser.add_argument(
        "--lr-cooldown",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="let the learning rate fall linearly to 0 over this last share of the run "
        "(by --max-minutes or --epochs, whichever ends first), e.g. 0.2",
    )
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--eval-every", type=int, default=0, help="steps (0: each epoch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--weights-dtype", choices=("float32", "float16", "bfloat16"), default="float32"
    )
    parser.add_argument("--progress", choices=("bar", "json"), default="bar")
    architecture = parser.add_argument_group("architecture overrides (default: the preset's)")
    architecture.add_argument("--vocab-size", type=int)
    architecture.add_argument("--tokenizer-type", choices=("unigram", "bpe", "word"))
    architecture.add_argument("--attention", choices=ATTENTION_KINDS)
    architecture.add_argument("--embedding-dim", type=int)
    architecture.add_argument("--hidden-size", type=int)
    architecture.add_argument("--num-layers", type=int)
    architecture.add_argument("--dropout", type=float)
    architecture.add_argument("--context-turns", type=int)
    architecture.add_argument("--max-context-tokens", type=int)
    architecture.add_argument("--max-response-tokens", type=int)
    parser.add_argument(
        "--stepwise-decoder",
        action="store_true",
        help="train with the classic one-step-at-a-time decoder loop (baseline only)",
    )
    parser.set_defaults(handler=run_train)


ARCHITECTURE_FIELDS = (
    "vocab_size", "tokenizer_type", "attention", "embedding_dim", "hidden_size", "num_layers",
    "dropout", "context_turns", "max_context_tokens", "max_response_tokens",
)  # fmt: skip


# Every numeric option's range (--lr-cooldown is checked by TrainConfig, with its own message).
TRAIN_NUMBERS = {
    "epochs": Knob(1, 1_000_000, integer=True),
    "max_minutes": Knob(0, 10_000_000, low_open=True),
    "batch_tokens": Knob(16, 100_000_000, integer=True),
    "lr": Knob(0, 10, low_open=True),
    "label_smoothing": Knob(0, 0.999),
    "patience": Knob(1, 1_000_000, integer=True),
    "eval_every": Knob(0, INT64_MAX, integer=True),
    "seed": Knob(0, INT64_MAX, integer=True),
    "dropout": Knob(0, 0.999),
    **{name: Knob(low, high, integer=True) for name, (low, high) in SIZE_LIMITS.items()},
}


def run_train(args: argparse.Namespace) -> int:
    from engine.device import resolve_device
    from engine.distributed import process_group
    from engine.pipeline import pretrain
    from engine.train import TrainConfig

    check_numbers(args, TRAIN_NUMBERS)
    overrides = {
        name: getattr(args, name) for name in ARCHITECTURE_FIELDS if getattr(args, name) is not None
    }
    _check_out(args)
    progress = make_progress(args.progress)
    main_rank = True
    try:
        device = resolve_device(device_of(args))
        model_config = preset(args.preset, direction=args.direction, **overrides)
        train_config = TrainConfig(
            epochs=args.epochs,
            batch_tokens=args.batch_tokens,
            learning_rate=args.lr,
            lr_cooldown=args.lr_cooldown,
            label_smoothing=args.label_smoothing,
            patience=args.patience,
            eval_every=args.eval_every,
            max_minutes=args.max_minutes,
            seed=args.seed,
            weights_dtype=args.weights_dtype,
            stepwise_decoder=args.stepwise_decoder,
        )
        # Under torchrun: one rank of a DDP run (rank 0 alone reports and writes --out).
        with process_group(device) as group:
            main_rank = group is None or group.is_main
            result = pretrain(
                corpus=args.corpus,
                out_dir=args.out,
                model_config=model_config,
                train_config=train_config,
                device=group.device if group else device,
                resume_from=args.resume,
                init_from=args.init_from,
                tokenizer_from=args.tokenizer_from,
                exemplars=args.exemplars,
                on_progress=progress,
                group=group,
            )
    except (EngineError, TypeError) as error:
        raise CommandError(str(error)) from None
    except OSError as error:  # a full disk or a folder it may not write: saves are atomic
        raise CommandError(
            f"cannot write the model to {args.out}: {error.strerror or error}; "
            "a model already there was left as it was"
        ) from None
    finally:
        progress.close()
    if args.progress != "json" and main_rank:
        print(strict_dumps({"out": args.out, **asdict(result)}, indent=2))
    return 0


def _check_out(args: argparse.Namespace) -> None:
    """`--out` may be new, empty, or a model; replacing a model is explicit."""
    try:
        holds_model = check_model_folder(args.out)
    except EngineError as error:
        raise CommandError(str(error)) from None
    resuming_it = (
        args.resume is not None and Path(args.resume).resolve() == Path(args.out).resolve()
    )
    if holds_model and not args.overwrite and not resuming_it:
        raise CommandError(
            f"{args.out} already holds a model; pass --overwrite to replace it "
            "(only the model's own files are replaced)"
        )
