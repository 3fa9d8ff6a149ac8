"""What a fine-tune returns, and the signal that it was asked to stop."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.train import TrainResult


class Cancelled(Exception):
    """Raised inside `finetune` when `should_stop` says so between phases."""


@dataclass
class FinetuneResult:
    status: Literal["succeeded", "cancelled"]
    out_dir: Path | None  # the new model directory (None when cancelled)
    data: dict[str, Any]  # example counts and the replay corpus
    before: dict[str, float | None]  # heldout_perplexity, valid_perplexity (and losses)
    after: dict[str, Any] | None = None  # the same, plus taught_recall
    train: TrainResult | None = None
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    recall: list[dict[str, Any]] = field(default_factory=list)  # per correction checked
    problems: list[str] = field(default_factory=list)  # measurements that failed after saving
    seconds: float = 0.0

    @property
    def forgetting(self) -> float | None:
        """Relative rise of the original corpus's validation perplexity (0.05 = +5%)."""
        before = self.before.get("valid_perplexity")
        after = (self.after or {}).get("valid_perplexity")
        if not before or after is None or not math.isfinite(before + after):
            return None  # not measured, or NaN / inf, which compare false: never a pass
        return after / before - 1.0

    def flagged(self, budget: float) -> bool:
        """The new version may have forgotten general chat (or it could not be measured)."""
        rise = self.forgetting
        return rise is None or rise > budget

    def metrics(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "train": asdict(self.train) if self.train else None,
            "forgetting": self.forgetting,
            "problems": self.problems,
            "seconds": self.seconds,
        }
