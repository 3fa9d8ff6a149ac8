"""`main.py finetune`: fine-tune a model on the saved conversations into a new model version.

The work is in `chatapp.finetune.job` (imported when the command runs, so building the command
line stays free of PyTorch).
"""

from __future__ import annotations

import argparse

from chatapp.commands.common import add_subcommand
from chatapp.finetune.data import DEFAULT_INCLUDE
from chatapp.finetune.guard import LOCK_FILE
from engine.finetune_config import FinetuneConfig

__all__ = ["LOCK_FILE", "register", "run_finetune"]


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
        "--replay",
        type=float,
        default=FinetuneConfig.replay,
        help="original-corpus examples mixed in per saved pair (default: %(default)s)",
    )
    parser.add_argument(
        "--replay-corpus",
        help="chitchat | chatterbot | FILE.jsonl (default: the base model's training corpus)",
    )
    parser.add_argument(
        "--l2-sp",
        type=float,
        default=FinetuneConfig.l2_sp,
        help="pull toward the starting weights, L2-SP (default: %(default)s)",
    )
    parser.add_argument(
        "--max-forgetting",
        type=float,
        default=FinetuneConfig.max_forgetting,
        help="a rise of the original corpus's perplexity above this share flags the new "
        "version, which is then not used without asking (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=FinetuneConfig.epochs,
        help="passes over the saved pairs (default: %(default)s)",
    )
    parser.add_argument("--max-minutes", type=float, help="time budget for training")
    parser.add_argument(
        "--lr", type=float, default=FinetuneConfig.learning_rate, help="AdamW learning rate"
    )
    parser.add_argument("--batch-tokens", type=int, default=FinetuneConfig.batch_tokens)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", choices=("bar", "json"), default="bar")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="lower this process's CPU priority by N (the app passes 10 to stay smooth)",
    )
    parser.set_defaults(handler=run_finetune)


def run_finetune(args: argparse.Namespace) -> int:
    from chatapp.finetune.job import run_finetune as run

    return run(args)
