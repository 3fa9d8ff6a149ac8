"""What the model worker reports about one request, in order: `ChoiceStarted`, `TextDelta`s and
`ChoiceDone` for each choice, then `Finished` (or `Failed` at any point)."""

from __future__ import annotations

from dataclasses import dataclass

from chatapp.server.protocol import ApiError


@dataclass(frozen=True)
class Choice:
    index: int
    text: str
    finish_reason: str  # "stop" (the reply ended, or reached a stop string) or "length"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    def as_json(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(frozen=True)
class ChoiceStarted:
    index: int


@dataclass(frozen=True)
class TextDelta:
    index: int
    text: str


@dataclass(frozen=True)
class ChoiceDone:
    choice: Choice


@dataclass(frozen=True)
class Finished:
    choices: tuple[Choice, ...]
    usage: Usage


@dataclass(frozen=True)
class Failed:
    error: ApiError


Event = ChoiceStarted | TextDelta | ChoiceDone | Finished | Failed
