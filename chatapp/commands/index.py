"""`main.py index`: the index of replies people wrote (the training split's turn pairs) that the
`pool` strategy draws from, written as `replies.sqlite` into a model folder."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from chatapp.commands.common import CommandError, add_subcommand


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers, "index", help="index the training split's replies for the pool strategy"
    )
    parser.add_argument("--corpus", required=True, help="chitchat | chatterbot | FILE.jsonl")
    parser.add_argument("--out", required=True, help="model folder to write replies.sqlite into")
    parser.set_defaults(handler=run_index)


def run_index(args: argparse.Namespace) -> int:
    from engine.data import read_corpus, split_examples
    from engine.errors import DataError
    from engine.retrieval import INDEX_FILE, build_index

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} is a file, not a folder")
    started = time.perf_counter()
    try:
        # The index keys a reply by the turn it answered and keeps two turns before it. The
        # split is by conversation (engine/data.py), the same one training and `eval` use.
        train = split_examples(read_corpus(args.corpus), context_turns=3)["train"]
        count = build_index(
            train,
            out / INDEX_FILE,
            corpus=Path(args.corpus).stem,
            on_progress=lambda done: print(f"{done:,} pairs", file=sys.stderr),
        )
    except (DataError, OSError) as error:
        raise CommandError(str(error)) from None
    size = (out / INDEX_FILE).stat().st_size
    seconds = round(time.perf_counter() - started, 2)
    print(
        json.dumps(
            {"pairs": count, "bytes": size, "seconds": seconds, "path": str(out / INDEX_FILE)}
        )
    )
    return 0
