"""Issue #24 item 3: one source of the fine-tune counts. The status bar and the Fine-tune dialog
show the same numbers (distinct pairs, what a run trains on), and both follow an import, a
rating and a model switch made in File › Models (a rollback) while the dialog is open."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog

from chatapp.finetune.events import decode_event
from chatapp.gui import teach_counts
from chatapp.gui.actions import Change, StoreActions
from chatapp.gui.finetune_dialog import FinetuneDialog
from chatapp.gui.main_window import MainWindow
from chatapp.gui.models_dialog import ModelsDialog
from chatapp.gui.teach_counts import TeachCounts
from chatapp.store import ARCHIVE_FORMAT, ARCHIVE_VERSION, Store
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, click_chip, open_main_window, send_and_wait

WHEN = datetime(2026, 12, 1, tzinfo=timezone.utc).isoformat()


@pytest.fixture
def window(qtbot, isolated_settings, tmp_path: Path, tiny_model_dir: Path) -> Iterator[MainWindow]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = Store.open(data_dir / "conversations.db")
    window = open_main_window(qtbot, store, tiny_model_dir, data_dir)
    yield window
    window.close()
    store.close()


def liked_chat(uid: str) -> dict[str, Any]:
    """A chat of two exchanges whose second reply was liked; every copy holds the same pairs."""
    texts = ["hello", "hi there", "how are you?", "fine, thanks"]
    return {
        "uid": uid, "title": "hello", "created_at": WHEN, "updated_at": WHEN,
        "messages": [
            {"uid": f"{uid}-{n}", "position": n, "role": "user" if n % 2 == 0 else "bot",
             "text": text, "created_at": WHEN, "chosen": True, "rating": 1 if n == 3 else 0}
            for n, text in enumerate(texts)
        ],
    }  # fmt: skip


def open_finetune(qtbot, window: MainWindow) -> FinetuneDialog:
    window.menus.finetune_action.trigger()
    dialog = window.findChild(FinetuneDialog, "finetuneDialog")
    assert dialog is not None
    qtbot.waitExposed(dialog)
    return dialog


def shown(dialog: FinetuneDialog) -> dict[str, str]:
    return {kind: box.text() for kind, box in dialog.form.kind_boxes.items()}


def test_after_an_import_and_a_rating_the_status_bar_and_the_dialog_agree(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
):
    dialog = open_finetune(qtbot, window)
    qtbot.waitUntil(lambda: shown(dialog)["liked"] == "Replies rated up (0)")
    # Three copies of one chat (as importing the same export under new ids makes).
    archive = tmp_path / "chats.json"
    chats = [liked_chat(f"00000000-0000-4000-8000-00000000000{n}") for n in range(3)]
    archive.write_text(
        json.dumps({"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "conversations": chats}),
        encoding="utf-8",
    )
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(archive), ""))
    import_action = next(
        a for a in window.menuBar().actions()[0].menu().actions() if a.text().startswith("&Import")
    )
    import_action.trigger()
    qtbot.waitUntil(lambda: window.conversations.rowCount() == 3, timeout=REPLY_TIMEOUT_MS)
    # One liked pair and two own turns that a run would train on, whatever the copies.
    qtbot.waitUntil(lambda: shown(dialog)["liked"] == "Replies rated up (1)")
    assert shown(dialog)["user"] == "Your own turns (1)"  # "how are you?" after "hi there"
    assert window.status_bar.teach_label.text() == "To fine-tune: 0 corrected · 1 liked · 1 turns"

    window.chats.open(window.conversations.record(0).id)
    reply = send_and_wait(qtbot, window, "tell me more")
    click_chip(qtbot, window, window.messages.row_of_message(reply.id), "like")
    qtbot.waitUntil(lambda: shown(dialog)["liked"] == "Replies rated up (2)")
    qtbot.waitUntil(lambda: "2 liked · 2 turns" in window.status_bar.teach_label.text())


def test_a_rollback_in_models_is_what_the_finetune_dialog_says(
    qtbot, window: MainWindow, tmp_path: Path, tiny_model_dir: Path
):
    base = window.store.active_model_version()
    folder = shutil.copytree(tiny_model_dir, tmp_path / "ft-new")
    version = window.store.add_model_version("ft-new", str(folder), parent_id=base.id)
    dialog = open_finetune(qtbot, window)
    done = {
        "event": "done", "version_id": version.id, "version_name": version.name, "seconds": 60,
        "before": {"valid": {"perplexity": 80.0, "loss": 4.38}},
        "after": {"valid": {"perplexity": 79.0, "loss": 4.37}, "taught_recall": 1.0},
        "recall": [], "forgetting_budget": 0.03,
        "data": {"counts": {"train_pairs": 1, "heldout_pairs": 0, "replay_examples": 8}},
    }  # fmt: skip
    dialog.handle_event(decode_event(done))
    dialog._on_finished(0, False)  # the child exited: the run is done
    with qtbot.waitSignal(window.context.switcher.switched, timeout=REPLY_TIMEOUT_MS):
        dialog.use_button.click()
    assert dialog.progress_view.status.text() == "Now chatting with “ft-new”."

    window.menus.models_action.trigger()  # roll back in File › Models…
    models = window.findChild(ModelsDialog)
    models.table.selectRow([v.id for v in models.versions].index(base.id))
    with qtbot.waitSignal(window.context.switcher.switched, timeout=REPLY_TIMEOUT_MS):
        models.activate_button.click()
    assert dialog.progress_view.status.text().startswith(f"Now chatting with “{base.name}”")
    assert "ft-new" in dialog.progress_view.status.text() and dialog.use_button.isEnabled()


def test_a_burst_of_changes_is_counted_once_and_never_on_the_gui_thread(
    qtbot, tmp_path: Path, monkeypatch
):
    threads: list[threading.Thread] = []

    def slow_count(store: Store) -> dict[str, int]:
        threads.append(threading.current_thread())
        time.sleep(0.2)
        return {"corrected": 0, "liked": len(threads), "user": 0}

    monkeypatch.setattr(teach_counts, "distinct_counts", slow_count)
    with Store.open(tmp_path / "conversations.db") as store:
        actions = StoreActions(store)
        counts = TeachCounts(store, actions)
        shown: list[dict[str, int]] = []
        counts.changed.connect(shown.append)
        for _ in range(20):  # an import's batches, a turn and its reply, ratings
            actions.announce(Change.MESSAGES)
        actions.announce(Change.PRESETS)  # cannot change the counts
        qtbot.waitUntil(lambda: bool(shown), timeout=5000)
        qtbot.wait(2 * teach_counts.SETTLE_MS)
        counts.close()
        actions.shut_down()
    assert shown == [{"corrected": 0, "liked": 1, "user": 0}] and len(threads) == 1
    assert threading.main_thread() not in threads
