"""The Fine-tune dialog's run as it goes: the states a run passes through, and the view of
it (progress bar with ETA, status line, loss curve, the error box)."""

from __future__ import annotations

import enum

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QWidget

from chatapp.gui.loss_plot import LossPlot
from engine.progress import (
    BaselineEvent,
    DataEvent,
    EndEvent,
    EvalEvent,
    ProgressEvent,
    StartEvent,
    StatusEvent,
    StepEvent,
)

PROGRESS_STEPS = 1000  # the bar's range: a tenth of a percent per step


class RunState(enum.StrEnum):
    IDLE = "idle"  # nothing started yet
    RUNNING = "running"
    CANCELLING = "cancelling"  # asked to stop; the child is winding down
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def busy(self) -> bool:
        """A child process is running: no second run, no changing the settings."""
        return self in (RunState.RUNNING, RunState.CANCELLING)


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    minutes, seconds = divmod(round(seconds), 60)
    return f"ETA {minutes}:{seconds:02d}"


class FinetuneProgress(QObject):
    """The widgets that show a run; the dialog lays them out."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.progress = QProgressBar(parent)
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setTextVisible(True)
        self.status = QLabel("", parent)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.plot = LossPlot(parent)
        self.error_box = QPlainTextEdit(parent)
        self.error_box.setReadOnly(True)
        self.error_box.setObjectName("finetuneError")
        self.error_box.setMaximumHeight(140)

    def say(self, text: str) -> None:
        self.status.setText(text)

    def reset(self) -> None:
        self.plot.reset()
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.error_box.clear()

    def show_state(self, state: RunState) -> None:
        self.error_box.setVisible(state == RunState.FAILED)
        self.plot.setVisible(state != RunState.IDLE)
        self.progress.setVisible(state != RunState.IDLE)

    def show_failure(self, message: str, stderr_tail: str) -> None:
        self.say("Fine-tuning failed; the current model is unchanged.")
        self.error_box.setPlainText(message + (f"\n\n{stderr_tail}" if stderr_tail else ""))

    def show_event(self, event: ProgressEvent) -> None:
        """What one progress event from the child shows (the outcome is the dialog's)."""
        if isinstance(event, StatusEvent):
            self.say(event.message)
        elif isinstance(event, DataEvent):
            self.say(
                f"Training on {event.train_pairs} saved pairs and {event.replay_examples} "
                f"replayed examples; {event.heldout_pairs} pairs held out to measure progress."
            )
        elif isinstance(event, BaselineEvent):
            measured = event.figures.heldout or event.figures.valid
            if measured is not None:
                self.plot.add_validation(0, measured.loss)
        elif isinstance(event, StartEvent):
            self.say("Training…")
        elif isinstance(event, StepEvent):
            self._show_step(event)
        elif isinstance(event, EvalEvent) and event.valid_loss is not None:
            self.plot.add_validation(event.step, event.valid_loss)
        elif isinstance(event, EndEvent):
            self.progress.setValue(PROGRESS_STEPS)
            self.progress.setFormat("%p%")

    def _show_step(self, event: StepEvent) -> None:
        total = max(event.total_steps, 1)
        self.progress.setValue(int(PROGRESS_STEPS * min(max(event.step / total, 0.0), 1.0)))
        self.progress.setFormat(f"%p%   {format_eta(event.eta_s)}".rstrip())
        if event.loss is not None:
            self.plot.add_training(event.step, event.loss)
