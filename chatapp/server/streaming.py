"""Text as it is generated, turned into deltas and cut at the request's stop strings."""

from __future__ import annotations

from collections.abc import Callable

from chatapp.server.events import Event, TextDelta


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """`text` up to the first stop string, and whether one was found."""
    found = [text.index(stop) for stop in stops if stop in text]
    return (text[: min(found)], True) if found else (text, False)


class TextStream:
    """Takes the whole text so far (the engine's `on_token`) and emits what is new as a
    `TextDelta`; the last few characters wait while they could be the start of a stop string,
    and once one appears `stopped` asks the generation to end."""

    def __init__(self, index: int, stops: tuple[str, ...], emit: Callable[[Event], None]) -> None:
        self.index, self.stops, self.emit = index, stops, emit
        self.sent = ""
        self.stopped = False
        self._hold = max((len(stop) for stop in stops), default=1) - 1

    def update(self, text: str) -> None:
        if self.stopped:
            return
        visible, self.stopped = cut_at_stop(text, self.stops)
        if not self.stopped and self._hold:
            visible = visible[: len(visible) - self._hold]
        self._send(visible)

    def finish(self, text: str) -> tuple[str, bool]:
        """The reply's final text (cut at a stop string) with its last delta sent; and whether
        a stop string ended it."""
        final, stopped = cut_at_stop(text, self.stops)
        self._send(final)
        return final, stopped or self.stopped

    def _send(self, visible: str) -> None:
        # Text only grows at its end; should a decode ever rewrite earlier characters, what was
        # sent stays sent and the rest follows once it extends it again.
        if len(visible) > len(self.sent) and visible.startswith(self.sent):
            self.emit(TextDelta(self.index, visible[len(self.sent) :]))
            self.sent = visible
