"""What the 'thinking' bubble says while a reply that does not stream is worked out.

Under pool (the default), rerank and beam search nothing shows until the candidates are drawn and
scored, which takes seconds on a CPU: a bare "thinking…" read as a hang. The bubble says what
is being done and counts the seconds, so the user sees the app at work (and that Esc or Stop
can end it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from chatapp.gui.message_model import MessageListModel
from engine.decoding.config import DecodeConfig

TICK_MS = 1000
# Strategies that score a pool of candidates: one cut short has no reply chosen among them.
SCORED_STRATEGIES = ("rerank", "pool")


def working_text(config: DecodeConfig, seconds: int) -> str | None:
    """The bubble's words after `seconds`; None for the strategies that stream their text."""
    if config.strategy == "rerank":
        doing = f"Writing {config.candidates} candidate replies and picking the best fit"
    elif config.strategy == "pool":
        doing = (
            f"Writing {config.candidates} replies, looking up {config.retrieved} that people "
            "wrote, and picking the best fit"
        )
    elif config.strategy == "beam":
        doing = f"Searching {config.beam_size} beams for the likeliest reply"
    else:
        return None
    return f"{doing}… {seconds} s (Esc stops)"


class ReplyProgress(QObject):
    """Keeps the live 'thinking' row's text up to date while `busy()` holds."""

    def __init__(self, messages: MessageListModel, busy: Callable[[], bool]) -> None:
        super().__init__()
        self._messages, self._busy = messages, busy
        self._config: DecodeConfig | None = None
        self._started = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self, config: DecodeConfig) -> None:
        self._config, self._started = config, time.monotonic()
        if working_text(config, 0) is None or not self._busy():
            self._timer.stop()
            return
        self._tick()
        self._timer.start()

    def stop(self) -> None:
        """No more ticks (Stop was pressed, or the window is closing)."""
        self._timer.stop()
        self._config = None

    def _tick(self) -> None:
        if self._config is None or not self._busy():
            self._timer.stop()
            return
        text = working_text(self._config, int(time.monotonic() - self._started))
        if text is not None:
            # No thinking row (another chat is open, or the reply streams now): nothing to say.
            self._messages.set_thinking_text(text)
