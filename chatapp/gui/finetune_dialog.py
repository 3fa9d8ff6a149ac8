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

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chatapp.finetune.data import KIND_LABELS, WHAT_TEACHES, not_enough_message
from chatapp.finetune.guard import close_interrupted_runs
from chatapp.finetune.request import DEFAULT_INCLUDE, KNOBS, FinetuneRequest, Knob
from chatapp.gui.actions import Change
from chatapp.gui.dialog_fit import fit_height, keep_fitted
from chatapp.gui.finetune_process import FinetuneProcess
from chatapp.gui.finetune_results import FinetuneResults
from chatapp.gui.loss_plot import LossPlot
from chatapp.gui.wheel_guard import guard_wheel
from chatapp.paths import resolve_data_dir
from chatapp.store import ModelVersionRecord
from engine.pairs import PAIR_KINDS
from engine.progress import (
    BaselineEvent,
    DataEvent,
    DoneEvent,
    EndEvent,
    ErrorEvent,
    EvalEvent,
    ProgressEvent,
    StartEvent,
    StatusEvent,
    StepEvent,
)

if TYPE_CHECKING:
    from chatapp.gui.context import AppContext

STATES = ("idle", "running", "cancelling", "done", "failed", "cancelled")
# The knobs the dialog shows (the rest keep the request's defaults), with their labels.
SHOWN_KNOBS = {
    "replay": "Replay share:",
    "epochs": "Epochs (at most):",
    "max_minutes": "Time limit:",
    "learning_rate": "Learning rate:",
}
SUFFIXES = {"max_minutes": " min"}
CHILD_NICE = 10  # the child yields the CPU to the window the user is chatting in


def main_script() -> str:
    """Path of `main.py`: installed as a top-level module, or at the root of a source checkout."""
    spec = importlib.util.find_spec("main")
    if spec is not None and spec.origin:
        return spec.origin
    return str(Path(__file__).resolve().parents[2] / "main.py")


MAX_HEIGHT = 680  # no taller than the main window's default 720 px


def knob_spin(knob: Knob, value: float | None, parent: QWidget) -> QSpinBox | QDoubleSpinBox:
    """A spin box over the knob's whole declared range. An optional knob's lowest value stands
    for None ("no limit"); an open low end starts one display step above it."""
    if knob.integer:
        spin: QSpinBox | QDoubleSpinBox = QSpinBox(parent)
        spin.setRange(int(knob.low), int(knob.high))
        spin.setSingleStep(int(knob.step))
    else:
        spin = QDoubleSpinBox(parent)
        spin.setDecimals(knob.decimals)
        shifted = knob.low_open and not knob.optional
        spin.setRange(knob.low + (10.0**-knob.decimals if shifted else 0.0), knob.high)
        spin.setSingleStep(knob.step)
    if knob.optional:
        spin.setSpecialValueText("no limit")
    spin.setValue(spin.minimum() if value is None else value)
    spin.setToolTip(knob.help[0].upper() + knob.help[1:] + ".")
    guard_wheel(spin)  # scrolling the dialog must not change a knob
    return spin


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    minutes, seconds = divmod(round(seconds), 60)
    return f"ETA {minutes}:{seconds:02d}"


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
        self.state = "idle"
        self.counts: dict[str, int] = dict.fromkeys(PAIR_KINDS, 0)
        self._counted = False  # the first counts are in
        self.result: DoneEvent | None = None
        self.error_message = ""
        self.events: list[ProgressEvent] = []
        self._build()
        self.switcher.switched.connect(self._on_switched)
        self.switcher.switch_failed.connect(self._on_switch_failed)
        context.signals.closing.connect(self.shut_down)
        # The counts the status bar shows too, read off the GUI thread after every change.
        context.counts.changed.connect(self._show_counts)
        context.counts.failed.connect(self.data_hint.setText)
        self._show_counts(context.counts.counts)
        self.refresh_counts()
        self._set_state("idle")

    # Construction --------------------------------------------------------------------------
    def _build(self) -> None:
        intro = QLabel(
            "Teach the model from your saved conversations. The model you chat with now is "
            "kept unchanged; the result is a new version you can switch to, and back from "
            "(File > Models…). You can keep chatting while it trains.",
            self,
        )
        intro.setWordWrap(True)
        data_box = self._build_data_box()
        settings_box = self._build_settings_box()
        self.settings_widgets: list[QWidget] = [data_box, *self.knob_spins.values()]
        self._build_outcome()
        top = QHBoxLayout()
        top.addWidget(data_box, 1)
        top.addWidget(settings_box, 1)
        content = QWidget(self)
        column = QVBoxLayout(content)
        column.addWidget(intro)
        column.addLayout(top)
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addWidget(self.plot, 2)
        column.addWidget(self.results_box, 3)
        column.addWidget(self.error_box)
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

    def _build_data_box(self) -> QGroupBox:
        """A check box per kind of saved pair, each saying what it teaches."""
        data_box = QGroupBox("Learn from", self)
        data_layout = QVBoxLayout(data_box)
        self.kind_boxes: dict[str, QCheckBox] = {}
        for kind in PAIR_KINDS:
            box = QCheckBox(data_box)
            box.setChecked(kind in DEFAULT_INCLUDE)
            box.toggled.connect(self._update_start)
            self.kind_boxes[kind] = box
            data_layout.addWidget(box)
            teaches = QLabel(WHAT_TEACHES[kind], data_box)
            teaches.setWordWrap(True)
            teaches.setIndent(24)
            data_layout.addWidget(teaches)
        self.data_hint = QLabel("", data_box)
        self.data_hint.setWordWrap(True)
        self.data_hint.setTextFormat(Qt.TextFormat.PlainText)
        data_layout.addWidget(self.data_hint)
        return data_box

    def _build_settings_box(self) -> QGroupBox:
        """A spin box per shown knob, over the range the request declares for it."""
        defaults = FinetuneRequest()
        settings_box = QGroupBox("Settings", self)
        form = QFormLayout(settings_box)
        self.knob_spins: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for name, label in SHOWN_KNOBS.items():
            spin = knob_spin(KNOBS[name], getattr(defaults, name), settings_box)
            spin.setObjectName(f"knob_{name}")
            spin.setSuffix(SUFFIXES.get(name, ""))
            form.addRow(label, spin)
            self.knob_spins[name] = spin
        return settings_box

    def _build_outcome(self) -> None:
        """Progress bar, status line, loss plot, results and the error box."""
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.plot = LossPlot(self)
        self.results_box = FinetuneResults(self)
        self.error_box = QPlainTextEdit(self)
        self.error_box.setReadOnly(True)
        self.error_box.setObjectName("finetuneError")
        self.error_box.setMaximumHeight(140)

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

    @Slot(object)
    def _show_counts(self, counts: dict[str, int] | None) -> None:
        if counts is None:
            return  # not counted yet: they come in a moment (`_update_start` says so)
        self.counts, self._counted = dict(counts), True
        for kind, box in self.kind_boxes.items():
            box.setText(f"{KIND_LABELS[kind].capitalize()} ({self.counts.get(kind, 0)})")
        self._update_start()

    def include(self) -> list[str]:
        return [kind for kind, box in self.kind_boxes.items() if box.isChecked()]

    def _update_start(self) -> None:
        refusal = not_enough_message(self.counts, self.include()) if self.include() else (
            "Choose at least one kind of example to learn from."
        )  # fmt: skip
        if not self._counted:
            refusal = "Counting your saved pairs…"
        total = sum(self.counts.get(kind, 0) for kind in self.include())
        self.data_hint.setText(refusal or f"{total} saved pairs selected.")
        self.start_button.setEnabled(self.state not in ("running", "cancelling") and not refusal)

    # Running -------------------------------------------------------------------------------
    def knob_values(self) -> dict[str, float | None]:
        """The shown knobs' values; an optional knob at its lowest is None (no limit)."""
        values: dict[str, float | None] = {}
        for name, spin in self.knob_spins.items():
            at_lowest = KNOBS[name].optional and spin.value() == spin.minimum()
            values[name] = None if at_lowest else spin.value()
        return values

    def request(self) -> FinetuneRequest:
        """The run the current settings ask for (FinetuneError without a kind to learn from)."""
        store, paths = self.context.store, self.context.paths
        current = self.switcher.loaded_version()
        model = current.directory if current is not None else paths.model_dir
        shown = FinetuneRequest(
            db=str(Path(store.path).resolve()),
            data_dir=str(Path(paths.data_dir).resolve()) if paths.data_dir else None,
            model=str(model) if model else None,
            include=tuple(self.include()),
            progress="json",
            nice=CHILD_NICE,
        )
        return dataclasses.replace(shown, **self.knob_values())

    def arguments(self) -> list[str]:
        """The child's command line: `main.py` and the request's own arguments."""
        return [main_script(), *self.request().to_argv()]

    def start(self) -> bool:
        if self.state in ("running", "cancelling"):
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
        self._set_state("running")
        self.status.setText("Starting…")
        process.start()
        return True

    def cancel(self) -> None:
        process = self.process
        if self.state != "running" or process is None:
            return
        self._set_state("cancelling")
        self.status.setText("Cancelling…")
        process.cancel()

    @Slot()
    def shut_down(self) -> None:
        """The app is closing: stop a run cleanly (bounded wait) rather than orphan it."""
        process = self.process
        if process is None or not process.is_running():
            return
        self._set_state("cancelling")
        process.shut_down()

    def _reset_outcome(self) -> None:
        self.result, self.error_message = None, ""
        self.events.clear()
        self.plot.reset()
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.results_box.clear()
        self.error_box.clear()

    def stderr_tail(self) -> str:
        return self.process.stderr_tail() if self.process is not None else ""

    @Slot(object)
    def handle_event(self, event: ProgressEvent) -> None:
        """One progress event from the child."""
        self.events.append(event)
        if isinstance(event, StatusEvent):
            self.status.setText(event.message)
        elif isinstance(event, DataEvent):
            self.status.setText(
                f"Training on {event.train_pairs} saved pairs and {event.replay_examples} "
                f"replayed examples; {event.heldout_pairs} pairs held out to measure progress."
            )
        elif isinstance(event, BaselineEvent):
            measured = event.figures.heldout or event.figures.valid
            if measured is not None:
                self.plot.add_validation(0, measured.loss)
        elif isinstance(event, StartEvent):
            self.status.setText("Training…")
        elif isinstance(event, StepEvent):
            self._show_step(event)
        elif isinstance(event, EvalEvent) and event.valid_loss is not None:
            self.plot.add_validation(event.step, event.valid_loss)
        elif isinstance(event, EndEvent):
            self.progress.setValue(1000)
            self.progress.setFormat("%p%")
        elif isinstance(event, DoneEvent):
            # The child still closes the store and exits: "Done" waits for that, and it can no
            # longer be cancelled (the new version is already saved).
            self.result = event
            self.cancel_button.setEnabled(False)
            self.status.setText("Saved the new version; finishing…")
        elif isinstance(event, ErrorEvent):
            self.error_message = event.message

    def _show_step(self, event: StepEvent) -> None:
        total = max(event.total_steps, 1)
        self.progress.setValue(int(1000 * min(max(event.step / total, 0.0), 1.0)))
        self.progress.setFormat(f"%p%   {format_eta(event.eta_s)}".rstrip())
        if event.loss is not None:
            self.plot.add_training(event.step, event.loss)

    @Slot(int, bool)
    def _on_finished(self, exit_code: int, crashed: bool) -> None:
        if self.state == "cancelling":
            self._set_state("cancelled")
            self.status.setText("Cancelled. Nothing was saved; the current model is unchanged.")
        elif self.result is not None and exit_code == 0:
            self._set_state("done")
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
        self._set_state("failed")
        self.status.setText("Fine-tuning failed; the current model is unchanged.")
        tail = self.stderr_tail().strip()
        self.error_box.setPlainText(message + (f"\n\n{tail}" if tail else ""))

    # Outcome -------------------------------------------------------------------------------
    def _show_result(self, event: DoneEvent) -> None:
        self.results_box.show_result(event)
        minutes = event.seconds / 60
        done = f"Done in {minutes:.1f} min: new model version “{event.version_name}”. "
        if event.forgetting_flag:
            self.status.setText(done + event.warning())
        else:
            self.status.setText(done + "Use it now, or switch any time in File > Models…")

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
            self.status.setText("The new version is no longer in the store.")
            return
        if self.result and self.result.forgetting_flag and not self.confirm_flagged():
            return
        if self.switcher.activate(version):
            self.use_button.setEnabled(False)
            self.status.setText(f"Loading “{version.name}”…")

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
        if self.state != "done" or self.result is None:
            return
        new = record.id == self.result.version_id
        self.status.setText(
            f"Now chatting with “{record.name}”."
            if new
            else f"Now chatting with “{record.name}”; the new version "
            f"“{self.result.version_name}” is kept: use it, or switch in File › Models…"
        )
        self.use_button.setEnabled(not new)

    @Slot(str)
    def _on_switch_failed(self, message: str) -> None:
        if self.state == "done":
            self.status.setText(message)
            self.use_button.setEnabled(True)

    # State ---------------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        assert state in STATES, state
        self.state = state
        running = state in ("running", "cancelling")
        for widget in self.settings_widgets:
            widget.setEnabled(not running)
        self.cancel_button.setEnabled(state == "running")
        self.use_button.setVisible(state == "done")
        self.use_button.setEnabled(state == "done")
        self.results_box.setVisible(state == "done")
        self.error_box.setVisible(state == "failed")
        self.plot.setVisible(state != "idle")
        self.progress.setVisible(state != "idle")
        self._update_start()
        fit_height(self, self.findChild(QScrollArea), MAX_HEIGHT)  # what shows now

    def closeEvent(self, event: QCloseEvent) -> None:
        # Closing only hides the dialog: a run goes on, and File > Fine-tune… shows it again.
        event.accept()
        self.hide()

    def showEvent(self, event: Any) -> None:
        if self.state not in ("running", "cancelling"):
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
    dialog = parent.findChild(FinetuneDialog, "finetuneDialog")
    if dialog is None:
        dialog = FinetuneDialog(context, parent)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
