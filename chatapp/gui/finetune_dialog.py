"""File > Fine-tune on my conversations…: settings, a live run in a child process, the outcome.

The run is `main.py finetune --progress json` in a child process (`FinetuneProcess`): the
GUI thread only reads its JSON lines (progress bar with ETA, loss curve), so chatting goes on
meanwhile, and a crash in the child cannot take the app or its model down. When it is done
the dialog shows the perplexities before and after, taught recall, and both models' replies,
and offers to switch to the new version (through the same `ModelSwitcher` as the models
dialog). A version whose original-corpus perplexity rose more than the guard allows is flagged
("it may have forgotten general chat") and is switched to only after the user confirms.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from chatapp.finetune.guard import close_interrupted_runs
from chatapp.finetune.request import FinetuneRequest
from chatapp.gui.actions import Change
from chatapp.gui.dialog_fit import fit_height, keep_fitted
from chatapp.gui.finetune_form import FinetuneForm
from chatapp.gui.finetune_process import FinetuneProcess
from chatapp.gui.finetune_progress import FinetuneProgress, RunState
from chatapp.gui.finetune_results import FinetuneResults
from chatapp.gui.one_dialog import show_one
from chatapp.paths import resolve_data_dir
from chatapp.store import ModelVersionRecord
from engine.progress import DoneEvent, ErrorEvent, ProgressEvent

if TYPE_CHECKING:
    from chatapp.gui.context import AppContext

CHILD_NICE = 10  # the child yields the CPU to the window the user is chatting in


def main_script() -> str:
    """Path of `main.py`: installed as a top-level module, or at the root of a source checkout."""
    spec = importlib.util.find_spec("main")
    if spec is not None and spec.origin:
        return spec.origin
    return str(Path(__file__).resolve().parents[2] / "main.py")


MAX_HEIGHT = 680  # no taller than the main window's default 720 px


class FinetuneDialog(QDialog):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("finetuneDialog")
        self.setWindowTitle("Fine-tune on my conversations")
        self.setModal(False)
        self.resize(860, MAX_HEIGHT)
        self.context = context
        self.switcher = context.switcher
        self.process: FinetuneProcess | None = None
        self.state = RunState.IDLE
        self.result: DoneEvent | None = None
        self.error_message = ""
        self.events: list[ProgressEvent] = []
        self._build()
        self.switcher.switched.connect(self._on_switched)
        self.switcher.switch_failed.connect(self._on_switch_failed)
        context.signals.closing.connect(self.shut_down)
        # The counts the status bar shows too, read off the GUI thread after every change.
        context.counts.changed.connect(self.form.show_counts)
        context.counts.failed.connect(self.form.data_hint.setText)
        self.form.show_counts(context.counts.counts)
        self.refresh_counts()
        self._set_state(RunState.IDLE)

    # Construction --------------------------------------------------------------------------
    def _build(self) -> None:
        intro = QLabel(
            "Teach the model from your saved conversations. The model you chat with now is "
            "kept unchanged; the result is a new version you can switch to, and back from "
            "(File > Models…). You can keep chatting while it trains.",
            self,
        )
        intro.setWordWrap(True)
        self.form = FinetuneForm(self)
        self.form.changed.connect(self._update_start)
        self.progress_view = view = FinetuneProgress(self)
        self.results_box = FinetuneResults(self)
        top = QHBoxLayout()
        top.addWidget(self.form.data_box, 1)
        top.addWidget(self.form.settings_box, 1)
        content = QWidget(self)
        column = QVBoxLayout(content)
        column.addWidget(intro)
        column.addLayout(top)
        column.addWidget(view.progress)
        column.addWidget(view.status)
        column.addWidget(view.plot, 2)
        column.addWidget(self.results_box, 3)
        column.addWidget(view.error_box)
        # Everything but the buttons scrolls: with the outcome shown the content is taller
        # than a 720-px main window, and squeezing it clipped the wrapped help texts.
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addLayout(self._build_buttons())
        # As tall as what shows (no empty band above the buttons), up to MAX_HEIGHT.
        keep_fitted(self, scroll, MAX_HEIGHT)

    def _build_buttons(self) -> QHBoxLayout:
        self.start_button = QPushButton("&Start", self)
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("&Cancel run", self)
        self.use_button = QPushButton("&Use new model", self)
        self.close_button = QPushButton("Close", self)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self.use_new_model)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.close_button)
        return buttons

    # Data ----------------------------------------------------------------------------------
    def refresh_counts(self) -> None:
        """Count again in the background; the boxes follow when the counts are in."""
        self.context.counts.refresh()

    def _update_start(self) -> None:
        refusal = self.form.refusal()
        self.form.show_refusal(refusal)
        self.start_button.setEnabled(not self.state.busy and not refusal)

    # Running -------------------------------------------------------------------------------
    def request(self) -> FinetuneRequest:
        """The run the current settings ask for (FinetuneError without a kind to learn from)."""
        store, paths = self.context.store, self.context.paths
        current = self.switcher.loaded_version()
        model = current.directory if current is not None else paths.model_dir
        shown = FinetuneRequest(
            db=str(Path(store.path).resolve()),
            data_dir=str(Path(paths.data_dir).resolve()) if paths.data_dir else None,
            model=str(model) if model else None,
            include=tuple(self.form.include()),
            progress="json",
            nice=CHILD_NICE,
        )
        return dataclasses.replace(shown, **self.form.knob_values())

    def arguments(self) -> list[str]:
        """The child's command line: `main.py` and the request's own arguments."""
        return [main_script(), *self.request().to_argv()]

    def start(self) -> bool:
        if self.state.busy:
            return False
        self.refresh_counts()
        if not self.start_button.isEnabled():
            return False
        self._reset_outcome()
        if self.process is not None:
            self.process.deleteLater()  # the last run's: finished, only kept for its stderr
        process = FinetuneProcess(self.arguments(), self)
        process.event.connect(self.handle_event)
        process.finished.connect(self._on_finished)
        process.failed_to_start.connect(self._on_failed_to_start)
        self.process = process
        self._set_state(RunState.RUNNING)
        self.progress_view.say("Starting…")
        process.start()
        return True

    def cancel(self) -> None:
        process = self.process
        if self.state != RunState.RUNNING or process is None:
            return
        self._set_state(RunState.CANCELLING)
        self.progress_view.say("Cancelling…")
        process.cancel()

    @Slot()
    def shut_down(self) -> None:
        """The app is closing: stop a run cleanly (bounded wait) rather than orphan it."""
        process = self.process
        if process is None or not process.is_running():
            return
        self._set_state(RunState.CANCELLING)
        process.shut_down()

    def _reset_outcome(self) -> None:
        self.result, self.error_message = None, ""
        self.events.clear()
        self.progress_view.reset()
        self.results_box.clear()

    def stderr_tail(self) -> str:
        return self.process.stderr_tail() if self.process is not None else ""

    @Slot(object)
    def handle_event(self, event: ProgressEvent) -> None:
        """One progress event from the child."""
        self.events.append(event)
        if isinstance(event, DoneEvent):
            # The child still closes the store and exits: "Done" waits for that, and it can no
            # longer be cancelled (the new version is already saved).
            self.result = event
            self.cancel_button.setEnabled(False)
            self.progress_view.say("Saved the new version; finishing…")
        elif isinstance(event, ErrorEvent):
            self.error_message = event.message
        else:
            self.progress_view.show_event(event)

    @Slot(int, bool)
    def _on_finished(self, exit_code: int, crashed: bool) -> None:
        if self.state == RunState.CANCELLING:
            self._set_state(RunState.CANCELLED)
            self.progress_view.say("Cancelled. Nothing was saved; the current model is unchanged.")
        elif self.result is not None and exit_code == 0:
            self._set_state(RunState.DONE)
            self._show_result(self.result)
            self.context.actions.announce(Change.MODELS)  # an open Models dialog shows it
        else:
            self._fail(
                self.error_message
                or ("The fine-tune process crashed." if crashed else f"It exited with {exit_code}.")
            )
        self.refresh_counts()
        self._close_interrupted_runs()

    @Slot(str)
    def _on_failed_to_start(self, reason: str) -> None:
        self._fail(f"The fine-tune process could not start: {reason}")

    def _fail(self, message: str) -> None:
        self.error_message = message
        self._set_state(RunState.FAILED)
        self.progress_view.show_failure(message, self.stderr_tail().strip())

    # Outcome -------------------------------------------------------------------------------
    def _show_result(self, event: DoneEvent) -> None:
        self.results_box.show_result(event)
        minutes = event.seconds / 60
        done = f"Done in {minutes:.1f} min: new model version “{event.version_name}”. "
        if event.forgetting_flag:
            self.progress_view.say(done + event.warning())
        else:
            self.progress_view.say(done + "Use it now, or switch any time in File > Models…")

    def new_version(self) -> ModelVersionRecord | None:
        if not self.result:
            return None
        for version in self.context.store.list_model_versions():
            if version.id == self.result.version_id:
                return version
        return None

    def use_new_model(self) -> None:
        version = self.new_version()
        if version is None:
            self.progress_view.say("The new version is no longer in the store.")
            return
        if self.result and self.result.forgetting_flag and not self.confirm_flagged():
            return
        if self.switcher.activate(version):
            self.use_button.setEnabled(False)
            self.progress_view.say(f"Loading “{version.name}”…")

    def confirm_flagged(self) -> bool:
        """Ask before switching to a version that may have forgotten general chat."""
        answer = QMessageBox.question(
            self,
            "Use the new version?",
            (self.result.warning() if self.result else "") + "\n\nUse it anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    @Slot(object)
    def _on_switched(self, record: ModelVersionRecord) -> None:
        """Any switch, here or in File › Models (a rollback too): say what is in use now."""
        if self.state != RunState.DONE or self.result is None:
            return
        new = record.id == self.result.version_id
        self.progress_view.say(
            f"Now chatting with “{record.name}”."
            if new
            else f"Now chatting with “{record.name}”; the new version "
            f"“{self.result.version_name}” is kept: use it, or switch in File › Models…"
        )
        self.use_button.setEnabled(not new)

    @Slot(str)
    def _on_switch_failed(self, message: str) -> None:
        if self.state == RunState.DONE:
            self.progress_view.say(message)
            self.use_button.setEnabled(True)

    # State ---------------------------------------------------------------------------------
    def _set_state(self, state: RunState) -> None:
        self.state = state
        self.form.set_editable(not state.busy)
        self.cancel_button.setEnabled(state == RunState.RUNNING)
        self.use_button.setVisible(state == RunState.DONE)
        self.use_button.setEnabled(state == RunState.DONE)
        self.results_box.setVisible(state == RunState.DONE)
        self.progress_view.show_state(state)
        self._update_start()
        fit_height(self, self.findChild(QScrollArea), MAX_HEIGHT)  # what shows now

    def closeEvent(self, event: QCloseEvent) -> None:
        # Closing only hides the dialog: a run goes on, and File > Fine-tune… shows it again.
        event.accept()
        self.hide()

    def showEvent(self, event: Any) -> None:
        if not self.state.busy:
            self.refresh_counts()
            self._close_interrupted_runs()
        super().showEvent(event)

    def _close_interrupted_runs(self) -> None:
        """A run whose process died without reporting (SIGKILL, a crash), from this window or
        the command line, shows as interrupted once nothing holds the fine-tune lock."""
        data_dir = resolve_data_dir(self.context.paths.data_dir)
        self.context.actions.run(lambda store: close_interrupted_runs(store, data_dir))


def open_finetune_dialog(context: AppContext, parent: QWidget) -> FinetuneDialog:
    """Show `parent`'s fine-tune dialog (non-modal; one per window, kept while hidden)."""
    return show_one(
        parent, FinetuneDialog, "finetuneDialog", lambda: FinetuneDialog(context, parent)
    )
