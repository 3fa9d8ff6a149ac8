"""What a fine-tune returns, and the signal that it was asked to stop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.finetune_figures import Comparison, Figures, RecallRow, flagged, forgetting
from engine.progress import DataEvent
from engine.train import TrainResult

# The data event's fields that are not a run's counts: the job's own (the pairs of each kind,
# the fewest it needs) and the unknown fields of a line read back.
_NOT_COUNTS = ("pairs", "min_pairs", "details")


class Cancelled(Exception):
    """Raised inside `finetune` when `should_stop` says so between phases."""


@dataclass(frozen=True)
class FinetuneData:
    """What a run trained on (the counts, as its `DataEvent` reported them), the state it kept
    (the epoch, and the share of the trained weights mixed with the starting ones), and whose
    prompts its before-and-after replies answer."""

    counts: DataEvent
    chosen_epoch: int | None = None
    chosen_mix: float | None = None
    comparisons_from: Literal["heldout", "training"] | None = None

    def stored(self) -> dict[str, Any]:
        """As the new model's record and its version's data keep it (JSON): the counts, the
        choice, and once the replies are compared, whose prompts."""
        counts = {
            key: value for key, value in asdict(self.counts).items() if key not in _NOT_COUNTS
        }
        stored = {**counts, "chosen_epoch": self.chosen_epoch, "chosen_mix": self.chosen_mix}
        if self.comparisons_from is not None:
            stored["comparisons_from"] = self.comparisons_from
        return stored


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
