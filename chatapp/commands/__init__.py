"""Sub-commands of `main.py`.

Each module in `COMMAND_MODULES` exposes `register(subparsers)`, which adds its parser and sets
`handler` (a function `args -> int`). With no sub-command the desktop app starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from chatapp.commands.common import CommandError, add_common_options, refuse_under_torchrun
from chatapp.paths import DataPathError
from chatapp.terminal import warn

COMMAND_MODULES = (
    "chatapp.commands.gui",
    "chatapp.commands.chat",
    "chatapp.commands.train",
    "chatapp.commands.evaluate",
    "chatapp.commands.index",
    "chatapp.commands.exemplars",
    "chatapp.commands.turn_encoder",
    "chatapp.commands.finetune",
    "chatapp.commands.export_import",
    "chatapp.commands.serve",
    "chatapp.commands.install_desktop",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seq2seq-chat",
        description="Seq2Seq Chat: a local GRU + attention chatbot; with no command, the app.",
    )
    add_common_options(parser)
    parser.add_argument(
        "--model", default=argparse.SUPPRESS, help="model directory (default: the shipped model)"
    )
    parser.add_argument(
        "--db", default=argparse.SUPPRESS, help="conversation database (default: in --data-dir)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    handler = getattr(args, "handler", None)
    if handler is None:
        from chatapp.commands.gui import run_gui

        handler = run_gui
    try:
        refuse_under_torchrun(getattr(args, "command", None) or "the app")
        return int(handler(args) or 0)
    except (CommandError, DataPathError) as error:
        warn(f"{parser.prog}: error: {error}")  # it may name a file or quote an archive
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
