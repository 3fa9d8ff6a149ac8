"""Training progress on the terminal: a tqdm bar, or JSON lines for a parent process."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from tqdm import tqdm


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class JsonProgress:
    """One JSON object a line on stdout, flushed, so a `QProcess` reads it as it comes."""

    def __call__(self, event: dict[str, Any]) -> None:
        line = json.dumps({key: _json_safe(value) for key, value in event.items()})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class TqdmProgress:
    def __init__(self) -> None:
        self._bar: tqdm | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self._bar = tqdm(total=event["total_steps"], initial=event.get("step", 0), unit="step",
                             dynamic_ncols=True, file=sys.stderr)  # fmt: skip
        elif kind == "step" and self._bar is not None:
            self._bar.update(event["step"] - self._bar.n)
            self._bar.set_postfix(loss=f"{event['loss']:.3f}", tok_s=f"{event['tokens_per_s']:.0f}")
        elif kind == "eval":
            message = (
                f"epoch {event['epoch']} step {event['step']}: valid perplexity "
                f"{event['valid_perplexity']:.2f} (best {event['best_valid_perplexity']:.2f})"
            )
            # stderr, like the bar: stdout carries only the final JSON summary.
            if self._bar is not None:
                self._bar.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def make_progress(kind: str) -> JsonProgress | TqdmProgress:
    return JsonProgress() if kind == "json" else TqdmProgress()
