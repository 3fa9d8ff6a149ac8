"""One numeric setting's description: its range, its kind, its help, how a spin box steps it.

Decoding (`engine/decoding/config.py`) and fine-tuning (`engine/finetune_config.py`) each
declare their knobs once in a table of these; the configs check their values with it, the
command lines build their options from it, and the GUI builds every spin box from it
(`chatapp/gui/knob_spin.py`). No torch here: command lines and dialogs build without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    low: float
    high: float
    help: str = ""  # one line; the command line's help and the spin box's tooltip
    integer: bool = False
    low_open: bool = False  # the low end itself is not allowed (a time limit of 0 minutes)
    optional: bool = False  # None (not given) is allowed: no limit
    step: float | None = None  # a spin box's step; None: 1 for an integer, 0.05 otherwise
    decimals: int = 2  # a spin box's decimals (a number that need not be whole)
    flag: str | None = None  # the command-line flag; None: --the-name-with-dashes

    def flag_of(self, name: str) -> str:
        return self.flag or "--" + name.replace("_", "-")

    def is_kind(self, value: object) -> bool:
        """A number, not a bool; an int for an integer knob."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return isinstance(value, int) or not self.integer

    def in_range(self, value: float) -> bool:
        """Finite, above the low end (or at it, where that is allowed), at most the high."""
        if not math.isfinite(value):
            return False
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high

    def contains(self, value: object) -> bool:
        if value is None:
            return self.optional
        return self.is_kind(value) and self.in_range(value)  # type: ignore[arg-type]

    def shown(self, value: float) -> str:
        """`1,000` for a whole number, `0.05` or `1e-06` otherwise."""
        return f"{int(value):,}" if self.integer else f"{value:,.15g}"

    def describe(self) -> str:
        """What the knob takes: `an integer at least 1 and at most 1,000`."""
        kind = "an integer" if self.integer else "a finite number"
        low = self.shown(self.low)
        low = f"greater than {low}" if self.low_open else f"at least {low}"
        return f"{kind} {low} and at most {self.shown(self.high)}"

    def refusal(self, label: str, value: object) -> str | None:
        """`--epochs must be an integer at least 1 and at most 1,000, not 0`, or None when
        `value` is allowed."""
        if self.contains(value):
            return None
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)[:40]
        return f"{label} must be {self.describe()}, not {shown}"
