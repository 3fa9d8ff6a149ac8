"""Ranges for numeric options (each an `engine.knobs.Knob`, declared once), checked after parsing.

A number out of range, or not finite, is one line on stderr and exit code 2 (a `CommandError`)
before anything runs: never an OverflowError from SQLite, an allocation error from PyTorch, a
run that saves nothing (`--lr inf`) or a limit silently ignored (`--max-minutes nan`).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from chatapp.commands.common import CommandError
from engine.knobs import Knob

INT64_MAX = 2**63 - 1


def check_numbers(args: argparse.Namespace, knobs: Mapping[str, Knob]) -> None:
    """Refuse the first option in `knobs` whose given value is out of its range."""
    for name, knob in knobs.items():
        value = getattr(args, name, None)
        refusal = None if value is None else knob.refusal(knob.flag_of(name), value)
        if refusal:
            raise CommandError(refusal)
