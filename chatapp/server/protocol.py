"""OpenAI request bodies in, one validated `GenerationRequest` out, or an `ApiError`.

The fields map onto `DecodeConfig` through the knob tables (`KNOBS`, and `CHOICE_KNOBS` for
the knobs that take a word): `temperature` 0 is beam search, above 0 it keeps the preset's
strategy (sampling, or rerank over samples); `presence_penalty`/`frequency_penalty` become the
repetition penalty; every knob of the tables and `preset`/`strategy` are accepted as extensions.
Unknown fields are ignored; fields that would change what the answer means (tools, logprobs, JSON
schemas) are refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatapp.store import storable_text
from engine.decoding.config import (
    CHOICE_KNOBS,
    DEFAULT_PRESET,
    KNOBS,
    PRESETS,
    STRATEGIES,
    DecodeConfig,
)
from engine.errors import ConfigError

MAX_CHOICES = 8
MAX_STOPS = 4
SEED_LIMIT = 2**63 - MAX_CHOICES  # choice i is generated with seed + i
MAX_TOKENS_CAP = int(KNOBS["max_length"].high)  # the longest reply the decoder produces


class ApiError(Exception):
    """An error answered in OpenAI's format: {"error": {message, type, param, code}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        kind: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.kind, self.code, self.headers = kind, code, headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param=param)


@dataclass(frozen=True)
class GenerationRequest:
    """What one API call asks the model for."""

    history: tuple[str, ...]  # user and bot turns alternating, oldest first, the user's last
    config: DecodeConfig
    n: int  # choices: n seeded generations (seed + i), or beam search's n best
    stop: tuple[str, ...]  # the reply ends before the first of these
    stream: bool
    include_usage: bool  # streamed: one last chunk with the token counts

    def seeded(self, index: int, config: DecodeConfig | None = None) -> DecodeConfig:
        """The decoding of choice `index` (`config`, or the request's): its own seed, so
        choices differ yet repeat."""
        config = config or self.config
        if config.seed is None or index == 0:
            return config
        return config.replace(seed=config.seed + index)


def _plain_text(response_format: Any) -> bool:
    return isinstance(response_format, dict) and response_format.get("type") == "text"


def _refuse_if(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != {}


# Fields that would change what the answer means; anything else unknown is ignored.
UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "tools": _refuse_if,
    "functions": _refuse_if,
    "function_call": lambda v: v not in (None, "none"),
    "tool_choice": lambda v: v not in (None, "none"),
    "logprobs": _refuse_if,
    "top_logprobs": _refuse_if,
    "logit_bias": _refuse_if,
    "response_format": lambda v: v is not None and not _plain_text(v),
    "audio": _refuse_if,
    "modalities": lambda v: v is not None and v != ["text"],
    "echo": _refuse_if,
    "suffix": _refuse_if,
    "best_of": lambda v: v not in (None, 1),
}  # fmt: skip


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for name, refused in UNSUPPORTED.items():
        if name in body and refused(body[name]):
            raise bad_request(
                f"{name} is not supported by this server (a local seq2seq model)", name
            )


def _shown(value: Any) -> str:
    return repr(value)[:40]


def number(
    body: dict[str, Any], name: str, low: float, high: float, *, integer: bool = False
) -> float | int | None:
    """`body[name]` if present and within [low, high]; None if absent or null."""
    value = body.get(name)
    if value is None:
        return None
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    whole = numeric and math.isfinite(value) and float(value).is_integer()
    if not numeric or (integer and not whole) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        span = f"of at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise bad_request(f"{name} must be {kind} {span}, not {_shown(value)}", name)
    return int(value) if integer else float(value)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false, not {_shown(value)}", name)
    return value


def _stops(body: dict[str, Any]) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOPS
        or not all(isinstance(stop, str) and stop for stop in stops)
    ):
        raise bad_request(f"stop must be a string or a list of up to {MAX_STOPS} strings", "stop")
    return tuple(stops)


def _base(body: dict[str, Any]) -> tuple[DecodeConfig, str | None]:
    """The preset asked for (default: the app's default) and the strategy asked for, if any."""
    name = body.get("preset", DEFAULT_PRESET)
    if name not in PRESETS:
        raise bad_request(
            f"preset must be one of {', '.join(PRESETS)}, not {_shown(name)}", "preset"
        )
    strategy = body.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise bad_request(
            f"strategy must be one of {', '.join(STRATEGIES)}, not {_shown(strategy)}", "strategy"
        )
    return PRESETS[name], strategy


def _temperature(body: dict[str, Any], strategy: str | None, changes: dict[str, Any]) -> None:
    knob = KNOBS["temperature"]
    value = body.get("temperature")
    if value is None:
        return
    if value == 0 and not isinstance(value, bool):
        if strategy in ("sample", "rerank"):
            raise bad_request(
                f"temperature 0 means beam search, not strategy {strategy!r}", "temperature"
            )
        changes.setdefault("strategy", "beam")
        return
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or not knob.low <= value <= knob.high:
        raise bad_request(
            f"temperature must be 0 (beam search) or between {knob.low:g} and "
            f"{knob.high:g}, not {_shown(value)}",
            "temperature",
        )
    changes["temperature"] = float(value)


def _penalty(body: dict[str, Any], changes: dict[str, Any]) -> None:
    """OpenAI's presence/frequency penalties (-2..2) as the one repetition penalty (1..3):
    only discouraging repeats is possible, so a negative penalty is no penalty."""
    given = [number(body, name, -2, 2) for name in ("presence_penalty", "frequency_penalty")]
    if any(value is not None for value in given):
        changes["repetition_penalty"] = 1.0 + max(0.0, *(v or 0.0 for v in given))


def _choices(body: dict[str, Any], changes: dict[str, Any]) -> None:
    """The knobs that take one of a few words (`candidate_search`: sample or beam)."""
    for name, choice in CHOICE_KNOBS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or value not in choice.values:
            raise bad_request(
                f"{name} must be one of {', '.join(choice.values)}, not {_shown(value)}", name
            )
        changes[name] = value


def _length(body: dict[str, Any], changes: dict[str, Any]) -> None:
    for name in ("max_tokens", "max_completion_tokens"):
        value = number(body, name, 1, math.inf, integer=True)
        if value is not None:
            changes["max_length"] = min(int(value), MAX_TOKENS_CAP)  # the model's limit


def decode_config(body: dict[str, Any], n: int) -> DecodeConfig:
    """The preset, then the OpenAI fields, then the app's own knobs, checked by `DecodeConfig`."""
    base, strategy = _base(body)
    changes: dict[str, Any] = {}
    _temperature(body, strategy, changes)
    _penalty(body, changes)
    for name, knob in KNOBS.items():
        if name == "temperature":  # 0 is allowed here: it means beam search (above)
            continue
        value = number(body, name, knob.low, knob.high, integer=knob.integer)
        if value is not None:
            changes[name] = value
    _choices(body, changes)
    _length(body, changes)
    seed = number(body, "seed", 0, SEED_LIMIT - 1, integer=True)
    if seed is not None:
        changes["seed"] = int(seed)
    if strategy is not None:
        changes["strategy"] = strategy
    merged = {**base.to_dict(), **changes}
    if "min_length" not in changes:  # a short max_tokens shortens the preset's minimum too
        merged["min_length"] = min(merged["min_length"], merged["max_length"])
    if merged["strategy"] == "beam":
        merged["n_best"] = max(merged["n_best"], n)
        if "beam_size" not in changes:
            merged["beam_size"] = max(merged["beam_size"], merged["n_best"])
    elif merged["strategy"] == "greedy" and n > 1:
        raise bad_request("n must be 1 with greedy decoding (it has one answer)", "n")
    try:
        return DecodeConfig.from_dict(merged)
    except ConfigError as error:
        field = str(error).split(" ", 1)[0]
        raise bad_request(str(error), field if field in merged else None) from None


def _common(body: dict[str, Any], history: tuple[str, ...]) -> GenerationRequest:
    _refuse_unsupported(body)
    n = int(number(body, "n", 1, MAX_CHOICES, integer=True) or 1)
    stream = _flag(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("stream_options must be an object", "stream_options")
    include_usage = stream and bool((options or {}).get("include_usage"))
    return GenerationRequest(
        history=history,
        config=decode_config(body, n),
        n=n,
        stop=_stops(body),
        stream=stream,
        include_usage=include_usage,
    )


def _text_of(content: Any, where: str) -> str:
    """A message's text: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise bad_request("only text content is supported (no images or audio)", where)
            if not isinstance(part.get("text"), str):
                raise bad_request("a text part needs a string 'text'", where)
            parts.append(part["text"])
        return "\n".join(parts)
    raise bad_request("content must be a string or a list of text parts", where)


def chat_history(messages: Any) -> tuple[str, ...]:
    """The turns the model reads: system messages are dropped (the model was never trained
    with one); consecutive turns of one role are one turn; the last must be the user's."""
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list", "messages")
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            continue
        if role not in ("user", "assistant"):
            raise bad_request(
                f"{where}.role must be system, user or assistant, not {_shown(role)}", where
            )
        # A lone surrogate ("\ud800" in the JSON) cannot be stored: U+FFFD, as in the app.
        text = storable_text(_text_of(message.get("content"), f"{where}.content"))[0]
        if not text.strip():
            raise bad_request(f"{where}.content is empty", f"{where}.content")
        if turns and turns[-1][0] == role:
            turns[-1] = (role, f"{turns[-1][1]}\n{text}")
        else:
            turns.append((role, text))
    if not turns or turns[-1][0] != "user":
        raise bad_request("the last message (besides system ones) must be the user's", "messages")
    return tuple(text for _, text in turns)


def parse_chat(body: dict[str, Any]) -> GenerationRequest:
    return _common(body, chat_history(body.get("messages")))


def parse_completion(body: dict[str, Any]) -> GenerationRequest:
    """`/v1/completions`: the prompt is one user turn."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("prompt must be one string", "prompt")
    if not prompt.strip():
        raise bad_request("prompt is empty", "prompt")
    return _common(body, (storable_text(prompt)[0],))
