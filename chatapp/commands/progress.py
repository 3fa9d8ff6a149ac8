"""Training progress on the terminal: a tqdm bar, or JSON lines for a parent process.

Both take the engine's typed events (`engine/progress.py`); the JSON lines are their one encoding.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

from engine.progress import EvalEvent, ProgressEvent, StartEvent, StepEvent


class JsonProgress:
    """One JSON object a line on stdout, flushed, so a `QProcess` reads it as it comes."""

    def __call__(self, event: ProgressEvent) -> None:
        sys.stdout.write(event.to_json() + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


def _figure(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


class TqdmProgress:
    def __init__(self) -> None:
        self._bar: tqdm | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, StartEvent):
            self._bar = tqdm(total=event.total_steps, initial=event.step, unit="step",
                             dynamic_ncols=True, file=sys.stderr)  # fmt: skip
        elif isinstance(event, StepEvent) and self._bar is not None:
            self._bar.update(event.step - self._bar.n)
            self._bar.set_postfix(loss=_figure(event.loss, ".3f"),
                                  tok_s=_figure(event.tokens_per_s, ".0f"))  # fmt: skip
        elif isinstance(event, EvalEvent):
            best = event.best_valid_perplexity
            message = (
                f"epoch {event.epoch} step {event.step}: valid perplexity "
                f"{_figure(event.valid_perplexity, '.2f')}"
                + ("" if best is None else f" (best {best:.2f})")
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
