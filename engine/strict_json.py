"""Strict JSON for what the app writes: progress events, a model's config.json, the store's
JSON columns, a command's summary line.

JSON has no NaN or infinity; `json.dumps` writes them anyway (`NaN`, `Infinity`), and other
tools, SQLite's JSON functions and strict parsers refuse the whole text. A figure that is not
finite (the perplexity of an empty validation slice, a diverged loss) is written as null, and
the readers take null for a figure as "not measured".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def json_safe(value: Any) -> Any:
    """`value` with every number that is not finite as None (tuples as lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def strict_dumps(value: Any, **options: Any) -> str:
    """`json.dumps(value, **options)` as strict JSON: a number that is not finite is null."""
    return json.dumps(json_safe(value), allow_nan=False, **options)
