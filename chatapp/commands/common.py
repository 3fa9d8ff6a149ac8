"""Options and errors shared by every sub-command."""

from __future__ import annotations

import argparse
import os


class CommandError(Exception):
    """A user-facing error: printed as one line on stderr, exit code 2."""


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=argparse.SUPPRESS,
        help="where the model runs (default: auto = cuda if available)",
    )
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="folder for the database, model versions and logs (default: the app-data folder)",
    )


def add_subcommand(
    subparsers: argparse._SubParsersAction, name: str, *, help: str
) -> argparse.ArgumentParser:
    """A sub-command parser with the common options already on it."""
    parser = subparsers.add_parser(name, help=help, description=help)
    add_common_options(parser)
    return parser


def device_of(args: argparse.Namespace) -> str:
    return getattr(args, "device", "auto")


def data_dir_of(args: argparse.Namespace) -> str | None:
    return getattr(args, "data_dir", None)


def model_of(args: argparse.Namespace) -> str | None:
    return getattr(args, "model", None)


def db_of(args: argparse.Namespace) -> str | None:
    return getattr(args, "db", None)


def refuse_under_torchrun(command: str) -> None:
    """Only `train` runs on several processes (DDP); any other command started by torchrun
    would run N times side by side, so it refuses with one line instead."""
    if command != "train" and int(os.environ.get("WORLD_SIZE") or 1) > 1:
        raise CommandError(
            f"`{command}` runs in one process only: start it without torchrun "
            "(of the commands, only `train` runs on several processes)"
        )
