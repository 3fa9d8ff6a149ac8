"""What a fine-tune returns, and the signal that it was asked to stop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.finetune_figures import Comparison, Figures, RecallRow, flagged, forgetting
from engine.progress import FinetuneData
from engine.train import TrainResult


class Cancelled(Exception):
    """Raised inside `finetune` when `should_stop` says so between phases."""


@dataclass
class FinetuneResult:
    status: Literal["succeeded", "cancelled"]
    out_dir: Path | None  # the new model directory (None when cancelled)
    data: FinetuneData
    before: Figures  # the starting model
    after: Figures | None = None  # the new model, with taught recall
    train: TrainResult | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    recall: list[RecallRow] = field(default_factory=list)  # per correction checked
    problems: list[str] = field(default_factory=list)  # measurements that failed after saving
    seconds: float = 0.0

    @property
    def forgetting(self) -> float | None:
        """Relative rise of the original corpus's validation perplexity (0.05 = +5%)."""
        return forgetting(self.before, self.after)

    def flagged(self, budget: float) -> bool:
        """The new version may have forgotten general chat (or it could not be measured)."""
        return flagged(self.forgetting, budget)

    def metrics(self) -> dict[str, Any]:
        return {
            "before": self.before.stored(),
            "after": self.after.stored() if self.after else None,
            "train": asdict(self.train) if self.train else None,
            "forgetting": self.forgetting,
            "problems": self.problems,
            "seconds": self.seconds,
        }
