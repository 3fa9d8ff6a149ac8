"""The JSON the endpoints answer with: whole responses and server-sent-event chunks, in
OpenAI's shapes for `/v1/chat/completions` and `/v1/completions`."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from chatapp.server.events import ChoiceDone, ChoiceStarted, Event, Finished, TextDelta
from chatapp.server.protocol import GenerationRequest

MODEL_ID = "seq2seq-chat"  # the one model served; a request's `model` field is not checked
DONE = "data: [DONE]\n\n"


def sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


class ChatFormat:
    """`chat.completion` and `chat.completion.chunk` objects for one request."""

    prefix, kind = "chatcmpl", "chat.completion"

    def __init__(self, request: GenerationRequest) -> None:
        self.request = request
        self.id = f"{self.prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def _envelope(self, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": MODEL_ID,
            "system_fingerprint": None,
            "choices": choices,
        }

    def complete(self, finished: Finished) -> dict[str, Any]:
        choices = [self._choice(c.index, c.text, c.finish_reason) for c in finished.choices]
        return {**self._envelope(self.kind, choices), "usage": finished.usage.as_json()}

    def _choice(self, index: int, text: str, finish_reason: str) -> dict[str, Any]:
        message = {"role": "assistant", "content": text, "refusal": None}
        return {
            "index": index,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason,
        }

    def _chunk_choice(self, index: int, text: str | None, finish: str | None) -> dict[str, Any]:
        delta: dict[str, Any] = {} if text is None else {"content": text}
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

    def chunks(self, event: Event) -> list[dict[str, Any]]:
        """The chunks that stand for `event` (the usage chunk only when it was asked for)."""
        if isinstance(event, ChoiceStarted):
            choice = self._chunk_choice(event.index, "", None)
            choice["delta"] = {"role": "assistant", "content": ""}
            return self._stream_chunks([choice])
        if isinstance(event, TextDelta):
            return self._stream_chunks([self._chunk_choice(event.index, event.text, None)])
        if isinstance(event, ChoiceDone):
            done = event.choice
            return self._stream_chunks([self._chunk_choice(done.index, None, done.finish_reason)])
        if isinstance(event, Finished) and self.request.include_usage:
            return [{**self._envelope(self.kind + ".chunk", []), "usage": event.usage.as_json()}]
        return []

    def _stream_chunks(self, choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        chunk = self._envelope(self.kind + ".chunk", choices)
        if self.request.include_usage:  # as OpenAI: null on every chunk but the last
            chunk["usage"] = None
        return [chunk]


class CompletionFormat(ChatFormat):
    """`text_completion` objects (the streamed chunks have the same object name)."""

    prefix, kind = "cmpl", "text_completion"

    def _choice(self, index: int, text: str, finish_reason: str) -> dict[str, Any]:
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}

    def _chunk_choice(self, index: int, text: str | None, finish: str | None) -> dict[str, Any]:
        return {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish}

    def chunks(self, event: Event) -> list[dict[str, Any]]:
        if isinstance(event, ChoiceStarted):  # a completion has no role to announce
            return []
        if isinstance(event, Finished) and self.request.include_usage:
            return [{**self._envelope(self.kind, []), "usage": event.usage.as_json()}]
        return super().chunks(event)

    def _stream_chunks(self, choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        chunk = self._envelope(self.kind, choices)
        if self.request.include_usage:
            chunk["usage"] = None
        return [chunk]
