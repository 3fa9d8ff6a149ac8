"""Training progress events: one frozen dataclass per kind, made where the event happens.

`engine/train.py` and `engine/finetune/` hand these to their `on_progress` callback; the app's
fine-tune job adds the last three kinds (done, error, cancelled). `to_json` is how an event is
written (one line of strict JSON); `chatapp/finetune/events.py` reads such a line back into
the same event. No torch here: the command line and the dialog import it without loading a
model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.finetune_figures import Comparison, Figures, RecallRow, forgetting_warning


@dataclass(frozen=True)
class ProgressEvent:
    NAME: ClassVar[str] = ""
    # Fields a newer producer wrote that this version does not know, kept so that a line read
    # back is written out the same.
    details: Mapping[str, Any] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this event: `{"event": NAME, **fields, **details}`."""
        values = {item.name: _plain(getattr(self, item.name)) for item in dataclasses.fields(self)}
        details = values.pop("details")
        return {"event": self.NAME, **values, **details}

    def to_json(self) -> str:
        """One line of strict JSON (a non-finite number is written as null)."""
        return json.dumps(_json_safe(self.to_dict()), default=str)


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
    data: Mapping[str, Any] = field(default_factory=dict)
    comparisons: Sequence[Comparison] = ()
    recall: Sequence[RecallRow] = ()  # one row per correction checked
    problems: Sequence[str] = ()
    forgetting: float | None = None  # 0.05: the original corpus's perplexity rose 5%
    forgetting_budget: float | None = None
    forgetting_flag: bool = False  # may have forgotten general chat: not used without a yes

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
    """Nested figure dataclasses as JSON objects (tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value
