"""The fine-tune dialog drives a real `main.py finetune` child process end to end."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from chatapp.commands import build_parser
from chatapp.commands.finetune import request_from_args
from chatapp.finetune.events import decode_event
from chatapp.finetune.request import KNOBS
from chatapp.gui import finetune_dialog
from chatapp.gui.finetune_dialog import FinetuneDialog
from chatapp.gui.finetune_progress import format_eta
from chatapp.gui.main_window import MainWindow
from chatapp.store import Store
from engine.finetune_figures import Figures, Perplexity
from engine.progress import DataEvent, DoneEvent, EndEvent, FinetuneData
from tests.chatapp.finetune.conftest import PHRASE, PROMPTS
from tests.chatapp.gui.helpers import open_main_window

RUN_TIMEOUT_MS = 240_000  # a whole fine-tune of the tiny model on a busy 2-core machine
LOAD_TIMEOUT_MS = 30_000


@pytest.fixture
def window(qtbot, isolated_settings, data_dir: Path, tiny_model_dir: Path) -> Iterator[MainWindow]:
    store = Store.open(data_dir / "conversations.db")
    window = open_main_window(qtbot, store, tiny_model_dir, data_dir)
    yield window
    window.close()
    store.close()


def open_dialog(qtbot, window: MainWindow) -> FinetuneDialog:
    window.menus.finetune_action.trigger()
    dialog = window.findChild(FinetuneDialog, "finetuneDialog")
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    qtbot.waitExposed(dialog)
    return dialog


def test_a_run_from_the_dialog_shows_its_outcome_and_switches_the_model(
    qtbot, window: MainWindow, data_dir: Path, tmp_path: Path, monkeypatch
):
    dialog = open_dialog(qtbot, window)
    # 30 conversations hold 10 distinct (prompt, correction) pairs: each counts once.
    assert dialog.form.kind_boxes["corrected"].text() == f"Corrections ({len(PROMPTS)})"
    assert not dialog.form.kind_boxes["user"].isChecked()  # your own turns: opt-in
    assert dialog.start_button.isEnabled()
    dialog.form.knob_spins["epochs"].setValue(8)
    args = dialog.arguments()
    assert args[1:3] == ["finetune", "--db"] and "--data-dir" in args and "--model" in args

    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.state == "running" and not dialog.start_button.isEnabled()
    # The window stays usable while the child trains.
    qtbot.waitUntil(lambda: dialog.progress_view.plot.points[0] > 0, timeout=RUN_TIMEOUT_MS)
    assert window.composer.isEnabled()
    qtbot.waitUntil(lambda: dialog.result is not None or dialog.state != "running",
                    timeout=RUN_TIMEOUT_MS)  # fmt: skip
    if dialog.state == "running":  # saved, the child still exiting: not "Done", no cancel
        assert (
            "Done" not in dialog.progress_view.status.text()
            and not dialog.cancel_button.isEnabled()
        )
    qtbot.waitUntil(lambda: dialog.state != "running", timeout=RUN_TIMEOUT_MS)
    assert dialog.state == "done", dialog.error_message + dialog.stderr_tail()
    assert (
        dialog.progress_view.status.text().startswith("Done in")
        and not dialog.cancel_button.isEnabled()
    )

    before, after = dialog.result.before, dialog.result.after
    assert after.taught and before.taught and after.taught.perplexity < before.taught.perplexity
    results = dialog.results_box
    assert results.figure_labels[1, 1].text() != "–" and results.figure_labels[1, 3].text() != "–"
    assert results.recall_label.text().startswith("Taught recall: it now gives what you taught")
    assert results.flag_label.isVisibleTo(results) == dialog.result.forgetting_flag
    assert results.comparisons.rowCount() >= 1
    assert results.comparisons.item(0, 1).text() == PHRASE
    assert dialog.progress_view.plot.points[1] >= 2  # the baseline and at least one evaluation
    assert dialog.progress_view.progress.value() == 1000
    assert dialog.use_button.isVisible() and dialog.use_button.isEnabled()
    shot = tmp_path / "finetune_dialog.png"
    assert dialog.grab().save(str(shot)) and shot.stat().st_size > 10_000

    new_id = dialog.result.version_id
    asked: list[bool] = []
    monkeypatch.setattr(dialog, "confirm_flagged", lambda: asked.append(True) or True)
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert bool(asked) == dialog.result.forgetting_flag  # a flagged version needs a yes
    # The switch is recorded off the GUI thread, then reaches the chat.
    qtbot.waitUntil(lambda: window.controller.model_version_id == new_id, timeout=LOAD_TIMEOUT_MS)
    assert window.store.active_model_version().id == new_id
    assert Path(window.status_bar.model_label.toolTip()).resolve() == Path(dialog.result.model_dir)
    with qtbot.waitSignal(window.controller.reply_stored, timeout=LOAD_TIMEOUT_MS) as reply:
        window.send("hello")
    assert reply.args[0].model_version_id == new_id  # the reply came from the new model


def test_cancel_stops_the_child_and_keeps_nothing(qtbot, window: MainWindow, data_dir: Path):
    dialog = open_dialog(qtbot, window)
    dialog.form.knob_spins["epochs"].setValue(100)
    assert dialog.start()
    qtbot.waitUntil(lambda: bool(dialog.events), timeout=RUN_TIMEOUT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.state == "cancelling"
    qtbot.waitUntil(lambda: dialog.state == "cancelled", timeout=5_000)
    assert list((data_dir / "models").iterdir()) == []
    (run,) = window.store.list_finetune_runs()
    assert run.status == "cancelled"
    assert len(window.store.list_model_versions()) == 1
    assert dialog.start_button.isEnabled()  # another run may start


def fail_with_child(
    qtbot, window: MainWindow, script: Path, code: str, monkeypatch: pytest.MonkeyPatch
) -> FinetuneDialog:
    """Start a run whose child process is `code` (in place of main.py); the dialog once the
    run has failed."""
    script.write_text(code)
    monkeypatch.setattr(finetune_dialog, "main_script", lambda: str(script))
    dialog = open_dialog(qtbot, window)
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.state == "failed", timeout=30_000)
    return dialog


def test_a_crash_in_the_child_is_shown(qtbot, window: MainWindow, tmp_path: Path, monkeypatch):
    crash = (
        "import sys\n"
        'print(\'{"event": "status", "message": "Reading…"}\', flush=True)\n'
        'print("Traceback (most recent call last):\\nRuntimeError: boom", file=sys.stderr)\n'
        "sys.exit(1)\n"
    )
    dialog = fail_with_child(qtbot, window, tmp_path / "crash.py", crash, monkeypatch)
    assert dialog.progress_view.error_box.isVisible()
    assert "RuntimeError: boom" in dialog.progress_view.error_box.toPlainText()
    assert "exited with 1" in dialog.progress_view.error_box.toPlainText()


def test_an_error_event_is_shown(qtbot, window: MainWindow, tmp_path: Path, monkeypatch):
    refuse = (
        'print(\'{"event": "error", "message": "another fine-tune is already running"}\')\n'
        "raise SystemExit(2)\n"
    )
    dialog = fail_with_child(qtbot, window, tmp_path / "refuse.py", refuse, monkeypatch)
    assert dialog.progress_view.error_box.toPlainText().startswith(
        "another fine-tune is already running"
    )


def test_start_is_refused_without_enough_pairs(qtbot, window: MainWindow):
    dialog = open_dialog(qtbot, window)
    dialog.form.kind_boxes["corrected"].setChecked(False)
    assert not dialog.start_button.isEnabled() and not dialog.start()
    dialog.form.kind_boxes["user"].setChecked(True)  # the seeded users only opened conversations
    assert "Not enough saved examples" in dialog.form.data_hint.text()
    assert "0 selected" in dialog.form.data_hint.text()
    assert "--" not in dialog.form.data_hint.text()  # no command-line flag inside the GUI


def test_the_dialog_fits_under_the_main_window(qtbot, window: MainWindow):
    dialog = open_dialog(qtbot, window)
    assert dialog.height() <= 720 and dialog.minimumSizeHint().height() <= 720


def test_a_flagged_version_is_not_used_without_a_yes(
    qtbot, window: MainWindow, monkeypatch, tmp_path: Path, tiny_model_dir: Path
):
    dialog = open_dialog(qtbot, window)
    base = window.store.active_model_version()
    folder = shutil.copytree(tiny_model_dir, tmp_path / "ft-flagged")
    version = window.store.add_model_version("ft-flagged", str(folder), parent_id=base.id)
    done = {
        "event": "done", "version_id": version.id, "version_name": version.name, "seconds": 60,
        "before": {"valid": {"perplexity": 80.0, "loss": 4.38}},
        "after": {"valid": {"perplexity": 84.0, "loss": 4.43}, "taught_recall": 0.9},
        "recall": [{"prompt": "hi", "taught": "hello", "reply": "hello", "recalled": True}] * 9
        + [{"prompt": "hi", "taught": "hello", "reply": "bye", "recalled": False}],
        "data": {"counts": {"train_pairs": 10, "heldout_pairs": 0, "replay_examples": 80},
                 "comparisons_from": "training"},
        "forgetting_budget": 0.03,  # and the original corpus's perplexity rose 5%
    }  # fmt: skip
    dialog.handle_event(decode_event(done))
    assert "Done" not in dialog.progress_view.status.text()  # not before the child has exited
    dialog._on_finished(0, False)
    assert "may have forgotten general chat" in dialog.progress_view.status.text()
    assert "+5.0%" in dialog.results_box.flag_label.text()
    assert dialog.results_box.recall_label.text().count("9 of 10") == 1
    assert dialog.results_box.comparisons_label.text().startswith("Replies to prompts it trained")
    monkeypatch.setattr(dialog, "confirm_flagged", lambda: False)
    dialog.use_new_model()
    assert window.store.active_model_version().id == base.id  # the user said no
    monkeypatch.setattr(dialog, "confirm_flagged", lambda: True)
    dialog.use_new_model()
    qtbot.waitUntil(
        lambda: window.store.active_model_version().id == version.id, timeout=LOAD_TIMEOUT_MS
    )


def test_a_run_whose_figures_are_not_finite_still_ends_and_shows_them_as_unavailable(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
):
    # An empty validation slice (NaN) and a diverged loss (inf): the child's JSON writer and
    # the dialog's reader meet through a real child process.
    base = window.store.active_model_version()
    done = DoneEvent(
        version_id=base.id, version_name=base.name, seconds=90.0,
        before=Figures(heldout=Perplexity(40.0, 3.7), valid=Perplexity(math.nan, math.nan)),
        after=Figures(heldout=Perplexity(math.inf, math.inf), valid=Perplexity(61.0, 4.1)),
        data=FinetuneData(DataEvent(train_pairs=10, heldout_pairs=2, replay_examples=80)),
        forgetting_budget=0.03,
    )  # fmt: skip
    end = EndEvent(steps=40, stopped_by="epochs", best_valid_perplexity=math.nan)
    script = tmp_path / "nonfinite.py"
    script.write_text(f"print({end.to_json()!r})\nprint({done.to_json()!r})\n")
    monkeypatch.setattr(finetune_dialog, "main_script", lambda: str(script))
    dialog = open_dialog(qtbot, window)
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.state != "running", timeout=30_000)
    assert dialog.state == "done", dialog.error_message + dialog.stderr_tail()
    assert dialog.progress_view.status.text().startswith("Done in 1.5 min")
    assert "could not be measured" in dialog.progress_view.status.text()  # flagged, not passed
    labels = dialog.results_box.figure_labels
    assert [labels[0, column].text() for column in (1, 2, 3)] == ["40.00", "–", "–"]
    assert [labels[1, column].text() for column in (1, 2, 3)] == ["–", "61.00", "–"]
    assert dialog.progress_view.progress.value() == 1000  # the end event arrived too


def test_each_source_says_what_it_teaches(qtbot, window: MainWindow):
    dialog = open_dialog(qtbot, window)
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    assert any(text.startswith("Corrections: what it should have said") for text in texts)
    assert any("talk like you" in text for text in texts)


def test_the_dialog_spans_the_request_ranges_and_hands_the_child_its_request(
    qtbot, window: MainWindow
):
    dialog = open_dialog(qtbot, window)
    for name, spin in dialog.form.knob_spins.items():
        assert spin.maximum() == pytest.approx(KNOBS[name].high), name
    dialog.form.knob_spins["epochs"].setValue(500)  # the old dialog stopped at 100
    dialog.form.knob_spins["max_minutes"].setValue(0)  # "no limit"
    dialog.form.knob_spins["replay"].setValue(12.5)
    request = dialog.request()
    assert (request.epochs, request.max_minutes, request.replay) == (500, None, 12.5)
    assert request.progress == "json" and request.nice == 10
    argv = dialog.arguments()
    assert argv[0] == finetune_dialog.main_script()
    assert request_from_args(build_parser().parse_args(argv[1:])) == request


def test_eta_format():
    assert format_eta(75.4) == "ETA 1:15"
    assert format_eta(None) == ""
