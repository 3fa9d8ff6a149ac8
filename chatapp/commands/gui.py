"""`main.py` with no command (or `main.py gui`): the desktop app."""

from __future__ import annotations

import argparse

from chatapp.commands.common import add_subcommand, data_dir_of, db_of, device_of, model_of
from engine.quantize import QUANTIZE_CHOICES  # torch-free: torch loads in the engine thread


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(subparsers, "gui", help="open the desktop app (the default)")
    parser.add_argument("--model", default=argparse.SUPPRESS, help="model directory")
    parser.add_argument("--db", default=argparse.SUPPRESS, help="conversation database file")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, default=argparse.SUPPRESS)
    parser.set_defaults(handler=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    from chatapp.gui.app import AppOptions, run_app

    return run_app(
        AppOptions(
            model=model_of(args),
            db=db_of(args),
            data_dir=data_dir_of(args),
            device=device_of(args),
            quantize=getattr(args, "quantize", "none"),
        )
    )
