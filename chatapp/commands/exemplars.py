"""`main.py exemplars`: the replies found for every example of a corpus in the reply index,
from other conversations, for training a retrieve-and-refine model (`train --exemplars`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from chatapp.commands.common import CommandError, add_subcommand

# Validation and test first: a run cut short by --max-minutes still has what eval needs.
SPLIT_ORDER = ("valid", "test", "train")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers,
        "exemplars",
        help="find the exemplars a retrieve-and-refine model trains on (from the reply index)",
    )
    parser.add_argument("--corpus", required=True, help="chitchat | chatterbot | FILE.jsonl")
    parser.add_argument(
        "--index", required=True, help="the reply index to search (a model folder's replies.sqlite)"
    )
    parser.add_argument("--out", required=True, help="the exemplars file to write (JSON lines)")
    parser.set_defaults(handler=run_exemplars)


def run_exemplars(args: argparse.Namespace) -> int:
    from engine.data import read_corpus, split_examples
    from engine.errors import DataError
    from engine.exemplars import write_exemplars
    from engine.retrieval import ReplyIndex

    started = time.perf_counter()
    total = 0

    def progress(done: int) -> None:
        print(f"\r{done:,} of {total:,} examples", end="", file=sys.stderr, flush=True)

    try:
        index = ReplyIndex.open(args.index)
        # The split and the context length are the ones training and the index use.
        splits = split_examples(read_corpus(args.corpus), context_turns=3)
        total = sum(len(splits[name]) for name in SPLIT_ORDER)
        lines = write_exemplars(
            {name: splits[name] for name in SPLIT_ORDER},
            index,
            args.out,
            corpus=Path(args.corpus).stem,
            on_progress=progress,
        )
    except (DataError, OSError) as error:
        raise CommandError(str(error)) from None
    seconds = round(time.perf_counter() - started, 2)
    print(file=sys.stderr)
    print(json.dumps({"examples": lines, "seconds": seconds, "path": args.out}))
    return 0
