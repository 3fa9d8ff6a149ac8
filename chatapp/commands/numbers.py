"""Bounds for numeric options: each option's range declared once, checked after parsing.

A number out of range, or not finite, is one line on stderr and exit code 2 (a `CommandError`)
before anything runs: never an OverflowError from SQLite, an allocation error from PyTorch, a
run that saves nothing (`--lr inf`) or a limit silently ignored (`--max-minutes nan`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass

from chatapp.commands.common import CommandError

INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    integer: bool = False
    low_open: bool = False  # the low end itself is not allowed (a learning rate of 0)

    def contains(self, value: float) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        low = f"greater than {self.low:g}" if self.low_open else f"at least {self.low:,}"
        return f"{kind} {low} and at most {self.high:,}"


def check_numbers(args: argparse.Namespace, bounds: Mapping[str, Bounds]) -> None:
    """Refuse the first option in `bounds` whose given value is out of its range."""
    for name, bound in bounds.items():
        value = getattr(args, name, None)
        if value is not None and not bound.contains(value):
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)[:40]
            raise CommandError(
                f"--{name.replace('_', '-')} must be {bound.describe()}, not {shown}"
            )
