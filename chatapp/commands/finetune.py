"""`main.py finetune`: fine-tune a model on the saved conversations into a new model version.

The options and their checks come from `chatapp.finetune.request` (the dialog builds its spin
boxes from the same table); the work is in `chatapp.finetune.job`, imported when the command
runs, so building the command line stays free of PyTorch.
"""

from __future__ import annotations

import argparse

from chatapp.commands.common import (
    CommandError,
    add_subcommand,
    data_dir_of,
    db_of,
    device_of,
    model_of,
)
from chatapp.commands.progress import make_progress
from chatapp.finetune.errors import FinetuneError
from chatapp.finetune.request import (
    DEFAULT_INCLUDE,
    KNOBS,
    PROGRESS_KINDS,
    FinetuneRequest,
    parse_include,
)

__all__ = ["register", "request_from_args", "run_finetune"]

DEFAULTS = FinetuneRequest()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers, "finetune", help="fine-tune a model on your saved conversations"
    )
    parser.add_argument("--db", default=argparse.SUPPRESS, help="conversation database file")
    parser.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        help="model to start from (default: the active version, else the shipped model)",
    )
    parser.add_argument(
        "--out", help="new model directory (default: DATA_DIR/models/ft-YYYYMMDD-HHMMSS)"
    )
    parser.add_argument(
        "--include",
        default=",".join(DEFAULT_INCLUDE),
        help="which saved pairs to learn from: corrected, liked, user (default: %(default)s)",
    )
    parser.add_argument(
        "--replay-corpus",
        help="chitchat | chatterbot | FILE.jsonl (default: the base model's training corpus)",
    )
    for name, knob in KNOBS.items():
        parser.add_argument(
            knob.flag_of(name),
            dest=name,
            type=int if knob.integer else float,
            default=getattr(DEFAULTS, name),
            help=f"{knob.help} [{knob.shown(knob.low)}..{knob.shown(knob.high)}] "
            f"(default: {'none' if getattr(DEFAULTS, name) is None else '%(default)s'})",
        )
    parser.add_argument("--progress", choices=PROGRESS_KINDS, default=DEFAULTS.progress)
    parser.set_defaults(handler=run_finetune)


def request_from_args(args: argparse.Namespace) -> FinetuneRequest:
    """The checked request for a parsed command line; CommandError for a bad value."""
    try:
        return FinetuneRequest(
            db=db_of(args),
            data_dir=data_dir_of(args),
            model=model_of(args),
            out=args.out,
            device=device_of(args),
            include=parse_include(args.include),
            replay_corpus=args.replay_corpus,
            progress=args.progress,
            **{name: getattr(args, name) for name in KNOBS},
        )
    except FinetuneError as error:
        raise CommandError(str(error)) from None


def run_finetune(args: argparse.Namespace) -> int:
    from chatapp.finetune.job import run_finetune as run

    request = request_from_args(args)
    try:
        return run(request, make_progress(request.progress))
    except FinetuneError as error:
        raise CommandError(str(error)) from None
