"""What a fine-tune measures, as small frozen dataclasses (no torch import, so the dialog and
the command line read them without loading a model).

From `engine.train.evaluate_perplexity` (a `Perplexity`) through the fine-tune's result and the
`done` progress event to the dialogs: one model's `Figures`, taught recall's `RecallRow`s and
both models' replies as `Comparison`s. The forgetting guard's figure and its warning live here
too, so that the job, the dialog and the models list say the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Perplexity:
    """exp(mean negative log-likelihood per target token) over `tokens` target tokens."""

    perplexity: float
    loss: float
    tokens: int = 0
    examples: int = 0


@dataclass(frozen=True)
class Figures:
    """One model measured: on the held-out pairs, the original corpus's validation slice, the
    taught pairs (None: nothing there to measure), and, after teaching, taught recall."""

    heldout: Perplexity | None = None
    valid: Perplexity | None = None
    taught: Perplexity | None = None
    taught_recall: float | None = None

    def stored(self) -> dict[str, float | None]:
        """The flat form a model version's record keeps (`valid_perplexity`, `valid_loss`, …)."""
        flat: dict[str, float | None] = {}
        for name in ("heldout", "valid", "taught"):
            part = getattr(self, name)
            flat[f"{name}_perplexity"] = part.perplexity if part else None
            flat[f"{name}_loss"] = part.loss if part else None
        if self.taught_recall is not None:
            flat["taught_recall"] = self.taught_recall
        return flat

    @classmethod
    def from_stored(cls, flat: Mapping[str, Any] | None) -> Figures:
        """The figures of a stored record (missing or unreadable parts are None)."""
        flat = flat or {}

        def part(name: str) -> Perplexity | None:
            value, loss = flat.get(f"{name}_perplexity"), flat.get(f"{name}_loss")
            if not _is_number(value):
                return None
            return Perplexity(float(value), float(loss) if _is_number(loss) else math.nan)

        recall = flat.get("taught_recall")
        return cls(part("heldout"), part("valid"), part("taught"),
                   float(recall) if _is_number(recall) else None)  # fmt: skip


@dataclass(frozen=True)
class RecallRow:
    """One correction asked again: did the reply hold every key word of the taught one?"""

    prompt: str
    taught: str
    reply: str
    recalled: bool


@dataclass(frozen=True)
class Comparison:
    """One prompt answered by the model before and after teaching."""

    prompt: Sequence[str]  # the conversation's turns
    expected: str
    before: str
    after: str


def version_figures(record: Mapping[str, Any] | None) -> tuple[Figures, Figures]:
    """(before, after) of a fine-tuned version's stored metrics: its `before` and `after`
    figures, or, in a record with only the flat figures, `base_heldout_perplexity` … (before)
    and `heldout_perplexity` … (after)."""
    record = record or {}
    if isinstance(record.get("after"), Mapping):
        return Figures.from_stored(record.get("before")), Figures.from_stored(record["after"])
    base = {key.removeprefix("base_"): value for key, value in record.items()
            if key.startswith("base_")}  # fmt: skip
    return Figures.from_stored(base), Figures.from_stored(record)


def forgetting(before: Figures, after: Figures | None) -> float | None:
    """Relative rise of the original corpus's validation perplexity (0.05 = +5%)."""
    old = before.valid.perplexity if before.valid else None
    new = after.valid.perplexity if after and after.valid else None
    if not old or new is None or not math.isfinite(old + new):
        return None  # not measured, or NaN / inf, which compare false: never a pass
    return new / old - 1.0


def flagged(change: float | None, budget: float) -> bool:
    """The new version may have forgotten general chat (or it could not be measured)."""
    return change is None or change > budget


def forgetting_warning(change: float | None, budget: float | None) -> str:
    """Why a new version is flagged: its original-corpus perplexity rose past the guard."""
    rise = f"rose {change:+.1%}" if change is not None else "could not be measured"
    limit = f" (more than {budget:.0%})" if budget is not None else ""
    return (
        f"Its perplexity on the original chat corpus {rise}{limit}: it may have forgotten "
        "general chat. It is not used unless you say so."
    )


def _is_number(value: Any) -> bool:
    """A stored figure that can be shown (a record written before the store wrote non-finite
    numbers as null may hold NaN: that reads as not measured)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
