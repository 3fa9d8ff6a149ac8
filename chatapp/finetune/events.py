"""Reading progress events back: the JSON codec's other half.

The events are the engine's dataclasses (`engine/progress.py`), made where training happens
and written as one line of JSON each (`ProgressEvent.to_json`). This module reads such a line,
or such a dict, back into the same event, checking every field's type (figures, rows and the
run's data inside an event too). From there the dialog and its results box read the event's
fields. `read_stored_data` reads what a model version's record keeps of its run the same way,
leniently: a record an older version wrote may lack a field.

A line that is not an event (a library's stray print, a truncated or garbled line, a kind this
version does not know) reads as None: a child's output can never crash its reader. A null where
a number must be is the writer's NaN or infinity (strict JSON has neither) and reads back as
NaN, which the dialogs show as unavailable: a run whose validation set was empty or whose loss
diverged still ends in the dialog.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, Union, get_args, get_origin, get_type_hints

from engine.progress import EVENT_TYPES, DataEvent, FinetuneData, ProgressEvent


class EventError(ValueError):
    """A line or a dict that is not a progress event of a known kind."""


class ProgressWriter(Protocol):
    """Where a run's events go: a terminal bar, or JSON lines for a parent process."""

    def __call__(self, event: ProgressEvent) -> None: ...

    def close(self) -> None: ...


def decode_event(data: Mapping[str, Any]) -> ProgressEvent:
    """The typed event for a JSON object such as `to_dict` writes; raises EventError."""
    if not isinstance(data, Mapping):
        raise EventError(f"a progress event is a JSON object, not {type(data).__name__}")
    name = data.get("event")
    kind = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if kind is None:
        raise EventError(f"unknown progress event {name!r}")
    hints = _field_types(kind)
    values = {key: _read(value, hints[key], f"{name} event: {key}")
              for key, value in data.items() if key in hints}  # fmt: skip
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


def read_stored_data(stored: Mapping[str, Any] | None) -> FinetuneData:
    """What a model version's record keeps of the run that made it (`FinetuneData.stored`, and
    the job's `pairs` of each kind). A field the record lacks, or holds as something else,
    reads as its default, a count as 0: the record may be older than the field."""
    stored = stored or {}
    missing = dataclasses.MISSING
    counts = {item.name: 0 for item in dataclasses.fields(DataEvent)
              if item.default is missing and item.default_factory is missing}  # fmt: skip
    counts |= _readable(DataEvent, stored)
    chosen = _readable(FinetuneData, stored)
    chosen.pop("counts", None)
    return FinetuneData(DataEvent(**counts), **chosen)


def _readable(kind: type, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `kind` that `stored` holds with a value of their type."""
    readable: dict[str, Any] = {}
    for key, hint in _field_types(kind).items():
        if key in stored:
            with contextlib.suppress(EventError):
                readable[key] = _read(stored[key], hint, key)
    return readable


@functools.cache
def _field_types(kind: type) -> dict[str, Any]:
    hints = get_type_hints(kind)
    return {item.name: hints[item.name] for item in dataclasses.fields(kind)
            if item.name != "details"}  # fmt: skip


def _read(value: Any, hint: Any, where: str) -> Any:
    """A decoded JSON value as a field of type `hint` (a list becomes a tuple, an object a
    figure dataclass where one is declared); raises EventError when it does not fit."""
    origin, args = get_origin(hint), get_args(hint)
    if value is None and hint is float:
        return math.nan  # written for a number that was not finite (`ProgressEvent.to_json`)
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None  # a field that may be None reads null as None, not as NaN
        for arg in args:
            try:
                return _read(value, arg, where)
            except EventError:
                continue
        raise EventError(f"{where} cannot be {value!r}"[:200])
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, Mapping):
            raise EventError(f"{where} cannot be {value!r}"[:200])
        hints = _field_types(hint)
        fields = {key: _read(item, hints[key], f"{where}.{key}")
                  for key, item in value.items() if key in hints}  # fmt: skip
        if issubclass(hint, ProgressEvent):  # an event inside another: its unknown fields too
            fields["details"] = {key: item for key, item in value.items() if key not in hints}
        try:
            return hint(**fields)
        except TypeError as error:
            raise EventError(f"{where}: {error}") from None
    if origin is Literal and any(value == arg and type(value) is type(arg) for arg in args):
        return value
    if origin is Mapping and isinstance(value, Mapping):
        return {_read(key, args[0], where): _read(item, args[1], f"{where}.{key}")
                for key, item in value.items()}  # fmt: skip
    if origin is Sequence and isinstance(value, (list, tuple)):
        return tuple(_read(item, args[0], where) for item in value)  # frozen, and equal
    if _fits(value, hint):
        return value
    raise EventError(f"{where} cannot be {value!r}"[:200])


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded JSON value is of a plain field type."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint in (bool, str):
        return isinstance(value, hint)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False
