"""Training progress events: one frozen dataclass per kind, one JSON line each.

The engine's training loops report plain dicts; `decode_event` types them once. From there the
fine-tune job prints them (`--progress json`: `to_json`, one line each, read by the dialog's
child process with `read_event_line`), the terminal shows them as a bar, and the dialog and its
results box read their fields. Fields no reader here uses ride along in `details`, so a line
read back is written out the same.

A line that is not an event (a library's stray print, a truncated or garbled line, a kind this
version does not know) reads as None: a child's output can never crash its reader.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Union, get_args, get_origin, get_type_hints


class EventError(ValueError):
    """A line or a dict that is not a progress event of a known kind."""


@dataclass(frozen=True)
class ProgressEvent:
    NAME: ClassVar[str] = ""
    # The producer's other fields, kept so that the JSON line keeps everything it was given.
    details: Mapping[str, Any] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this event: `{"event": NAME, **fields, **details}`."""
        values = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        details = values.pop("details")
        return {"event": self.NAME, **values, **details}

    def to_json(self) -> str:
        """One line of strict JSON (a non-finite number is written as null)."""
        return json.dumps(_json_safe(self.to_dict()), default=str)


@dataclass(frozen=True)
class StatusEvent(ProgressEvent):
    NAME: ClassVar[str] = "status"
    message: str


@dataclass(frozen=True)
class DataEvent(ProgressEvent):
    """What the run trains on; `pairs` (per kind) and `min_pairs` are added by the job."""

    NAME: ClassVar[str] = "data"
    train_pairs: int
    heldout_pairs: int
    replay_examples: int
    pairs: Mapping[str, int] = field(default_factory=dict)
    min_pairs: int | None = None


@dataclass(frozen=True)
class BaselineEvent(ProgressEvent):
    """The starting model measured (None: a part too small, or not measured)."""

    NAME: ClassVar[str] = "baseline"
    heldout_perplexity: float | None = None
    heldout_loss: float | None = None
    valid_perplexity: float | None = None
    valid_loss: float | None = None
    select_perplexity: float | None = None


@dataclass(frozen=True)
class StartEvent(ProgressEvent):
    NAME: ClassVar[str] = "start"
    total_steps: int
    step: int = 0
    train_examples: int | None = None
    valid_examples: int | None = None


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
    improved: bool = False
    elapsed_s: float | None = None


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


@dataclass(frozen=True)
class DoneEvent(ProgressEvent):
    """A fine-tune succeeded: the new version, its figures, and both models' replies."""

    NAME: ClassVar[str] = "done"
    version_id: int
    version_name: str
    model_dir: str = ""
    run_id: int | None = None
    seconds: float = 0.0
    metrics: Mapping[str, Any] = field(default_factory=dict)  # "before", "after", flat figures
    data: Mapping[str, Any] = field(default_factory=dict)
    comparisons: Sequence[Mapping[str, Any]] = ()
    recall: Sequence[Mapping[str, Any]] = ()  # one row per correction checked
    problems: Sequence[str] = ()
    taught_recall: float | None = None
    heldout_perplexity: float | None = None
    valid_perplexity: float | None = None
    base_heldout_perplexity: float | None = None
    base_valid_perplexity: float | None = None
    valid_perplexity_change: float | None = None  # 0.05: the original corpus's perplexity +5%
    forgetting_budget: float | None = None
    forgetting_flag: bool = False  # may have forgotten general chat: not used without a yes


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


class ProgressWriter(Protocol):
    """Where a run's events go: a terminal bar, or JSON lines for a parent process."""

    def __call__(self, event: ProgressEvent) -> None: ...

    def close(self) -> None: ...


def decode_event(data: Mapping[str, Any]) -> ProgressEvent:
    """The typed event for a dict such as the engine reports; raises EventError."""
    if not isinstance(data, Mapping):
        raise EventError(f"a progress event is a JSON object, not {type(data).__name__}")
    name = data.get("event")
    kind = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if kind is None:
        raise EventError(f"unknown progress event {name!r}")
    hints = _field_types(kind)
    values = {key: value for key, value in data.items() if key in hints}
    for key, value in values.items():
        if not _fits(value, hints[key]):
            raise EventError(f"{name} event: {key} cannot be {value!r}"[:200])
        if isinstance(value, list):
            values[key] = tuple(value)  # frozen, and equal to the event it was written from
    details = {key: value for key, value in data.items() if key not in hints and key != "event"}
    try:
        return kind(**values, details=details)
    except TypeError as error:  # a field it must have is missing
        raise EventError(f"{name} event: {error}") from None


def event_from_json(line: str) -> ProgressEvent:
    """The event one JSON line holds; raises EventError."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as error:
        raise EventError(f"not a JSON line: {error}") from None
    return decode_event(data)


def read_event_line(line: str) -> ProgressEvent | None:
    """The event on a line of a child's stdout, or None for anything else."""
    try:
        return event_from_json(line)
    except EventError:
        return None


def typed_callback(writer: Callable[[ProgressEvent], None]) -> Callable[[Mapping[str, Any]], None]:
    """An engine `on_progress` callback (dicts) that hands `writer` typed events."""
    return lambda data: writer(decode_event(data))


@functools.cache
def _field_types(kind: type[ProgressEvent]) -> dict[str, Any]:
    hints = get_type_hints(kind)
    return {item.name: hints[item.name] for item in dataclasses.fields(kind)
            if item.name != "details"}  # fmt: skip


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded JSON value fits a field's type (containers one level deep)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Union or origin is types.UnionType:
        return any(_fits(value, arg) for arg in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is Mapping:
        return isinstance(value, Mapping) and all(
            _fits(key, args[0]) and _fits(item, args[1]) for key, item in value.items()
        )
    if origin is Sequence:
        return isinstance(value, (list, tuple)) and all(_fits(item, args[0]) for item in value)
    return isinstance(value, hint)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value
