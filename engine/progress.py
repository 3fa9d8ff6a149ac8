"""Training progress events: one frozen dataclass per kind, made where the event happens.

`engine/train.py` and `engine/finetune/` hand these to their `on_progress` callback; the app's
fine-tune job adds the last three kinds (done, error, cancelled). `to_json` is how an event is
written (one line of strict JSON); `chatapp/finetune/events.py` reads such a line back into
the same event. `FinetuneData` (what a fine-tune trained on) lives here too: the done event
carries it, and a model version's record keeps it (`stored`). No torch here: the command line
and the dialog import it without loading a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from engine.finetune_figures import (
    Comparison,
    Figures,
    RecallRow,
    flagged,
    forgetting,
    forgetting_warning,
)
from engine.strict_json import strict_dumps


@dataclass(frozen=True)
class ProgressEvent:
    NAME: ClassVar[str] = ""
    # Fields a newer producer wrote that this version does not know, kept so that a line read
    # back is written out the same.
    details: Mapping[str, Any] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this event: `{"event": NAME, **fields, **details}`."""
        return {"event": self.NAME, **_plain(self)}

    def to_json(self) -> str:
        """One line of strict JSON (a non-finite number is written as null; the reader takes
        a null where a number must be as NaN)."""
        return strict_dumps(self.to_dict(), default=str)


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class StatusEvent(ProgressEvent):
    NAME: ClassVar[str] = "status"
    message: str


@dataclass(frozen=True)
class DataEvent(ProgressEvent):
    """What a fine-tune trains on; `pairs` (per kind) and `min_pairs` are added by the job."""

    NAME: ClassVar[str] = "data"
    train_pairs: int
    heldout_pairs: int
    replay_examples: int
    taught_pairs: int = 0
    duplicates_skipped: int = 0
    empty_skipped: int = 0
    heldout_conversations: int = 0
    replay_corpus: str = ""
    original_valid_examples: int = 0
    pairs: Mapping[str, int] = field(default_factory=dict)
    min_pairs: int | None = None


# The data event's fields that are not a run's counts: the job's own (the pairs of each kind,
# the fewest it needs) and the unknown fields of a line read back.
_NOT_COUNTS = ("pairs", "min_pairs", "details")


@dataclass(frozen=True)
class FinetuneData:
    """What a run trained on (the counts, as its `DataEvent` reported them; the job adds the
    pairs of each kind), the state it kept (the epoch, and the share of the trained weights
    mixed with the starting ones), and whose prompts its before-and-after replies answer."""

    counts: DataEvent
    chosen_epoch: int | None = None
    chosen_mix: float | None = None
    comparisons_from: Literal["heldout", "training"] | None = None

    def stored(self) -> dict[str, Any]:
        """As the new model's record and its version's data keep it (JSON): the counts, the
        choice, and once the replies are compared, whose prompts. (The job stores the pairs of
        each kind itself, beside these.)"""
        counts = dataclasses.asdict(self.counts)
        stored = {key: value for key, value in counts.items() if key not in _NOT_COUNTS}
        stored |= {"chosen_epoch": self.chosen_epoch, "chosen_mix": self.chosen_mix}
        if self.comparisons_from is not None:
            stored["comparisons_from"] = self.comparisons_from
        return stored


@dataclass(frozen=True)
class BaselineEvent(ProgressEvent):
    """The starting model measured, and its perplexity on the slice that chooses the state."""

    NAME: ClassVar[str] = "baseline"
    figures: Figures = field(default_factory=Figures)
    select_perplexity: float | None = None


@dataclass(frozen=True)
class StartEvent(ProgressEvent):
    NAME: ClassVar[str] = "start"
    total_steps: int
    step: int = 0
    train_examples: int | None = None
    valid_examples: int | None = None
    world_size: int | None = None  # pre-training only


@dataclass(frozen=True)
class StepEvent(ProgressEvent):
    NAME: ClassVar[str] = "step"
    epoch: int
    step: int
    total_steps: int
    loss: float | None  # None only when it was not finite (JSON has no NaN)
    learning_rate: float | None = None
    tokens_per_s: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None


@dataclass(frozen=True)
class EvalEvent(ProgressEvent):
    NAME: ClassVar[str] = "eval"
    epoch: int
    step: int
    valid_perplexity: float | None
    valid_loss: float | None = None
    best_valid_perplexity: float | None = None  # pre-training only
    improved: bool = False  # pre-training: a new best; fine-tuning: the state is kept
    elapsed_s: float | None = None
    # Fine-tuning only: the share of the trained weights checked, the loss on the taught
    # pairs, and whether the original corpus's perplexity is within the forgetting guard.
    mix: float | None = None
    taught_loss: float | None = None
    within_budget: bool | None = None


@dataclass(frozen=True)
class EndEvent(ProgressEvent):
    """The training loop is over (the engine's `TrainResult`)."""

    NAME: ClassVar[str] = "end"
    steps: int
    stopped_by: str  # "epochs" | "early_stopping" | "time_budget" | "cancelled"
    best_valid_perplexity: float | None = None
    epochs_completed: int = 0
    train_seconds: float | None = None
    tokens_per_second: float | None = None
    saved: bool = False
    chosen_epoch: int | None = None  # fine-tuning only: the state kept
    chosen_mix: float | None = None


@dataclass(frozen=True)
class DoneEvent(ProgressEvent):
    """A fine-tune succeeded: the new version, its figures, and both models' replies."""

    NAME: ClassVar[str] = "done"
    version_id: int
    version_name: str
    model_dir: str = ""
    run_id: int | None = None
    seconds: float = 0.0
    before: Figures = field(default_factory=Figures)
    after: Figures = field(default_factory=Figures)
    data: FinetuneData = field(kw_only=True)
    comparisons: Sequence[Comparison] = ()
    recall: Sequence[RecallRow] = ()  # one row per correction checked
    problems: Sequence[str] = ()
    # The forgetting guard's allowed rise (0.03: 3%); the rise itself and the flag are worked
    # out from `before` and `after`, so the event carries each figure once.
    forgetting_budget: float = field(kw_only=True)

    @property
    def forgetting(self) -> float | None:
        """Relative rise of the original corpus's perplexity (0.05: it rose 5%)."""
        return forgetting(self.before, self.after)

    @property
    def forgetting_flag(self) -> bool:
        """It may have forgotten general chat (or that could not be measured): the new
        version is not used without a yes."""
        return flagged(self.forgetting, self.forgetting_budget)

    def warning(self) -> str:
        """Why this version is flagged (`forgetting_flag`), in the user's words."""
        return forgetting_warning(self.forgetting, self.forgetting_budget)


@dataclass(frozen=True)
class ErrorEvent(ProgressEvent):
    NAME: ClassVar[str] = "error"
    message: str


@dataclass(frozen=True)
class CancelledEvent(ProgressEvent):
    NAME: ClassVar[str] = "cancelled"
    message: str


EVENT_TYPES: dict[str, type[ProgressEvent]] = {
    kind.NAME: kind
    for kind in (StatusEvent, DataEvent, BaselineEvent, StartEvent, StepEvent, EvalEvent,
                 EndEvent, DoneEvent, ErrorEvent, CancelledEvent)
}  # fmt: skip


def _plain(value: Any) -> Any:
    """Dataclasses (an event's nested figures too) as JSON objects, an event's unknown fields
    beside its own; tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        plain = {item.name: _plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
        if isinstance(value, ProgressEvent):
            details = plain.pop("details")
            plain.update(details)
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
