"""File > Models…: switching versions (rollback included), refusing broken ones, deleting."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.gui.main_window import MainWindow
from chatapp.gui.models_dialog import ModelsDialog
from chatapp.store import Store
from tests.chatapp.finetune.conftest import FinetuneRun
from tests.chatapp.gui.helpers import open_main_window

LOAD_TIMEOUT_MS = 30_000


@pytest.fixture
def window(
    qtbot, isolated_settings, finetuned: FinetuneRun, finetuned_copy: Path
) -> Iterator[MainWindow]:
    """The app over a copy of the session fine-tune's database, chatting with the base model."""
    assert finetuned.exit_code == 0, finetuned.stderr
    store = Store.open(finetuned_copy / "conversations.db")
    window = open_main_window(qtbot, store, finetuned.base_dir, finetuned_copy)
    yield window
    window.close()
    store.close()


def open_dialog(window: MainWindow) -> ModelsDialog:
    window.menus.models_action.trigger()
    dialog = window.findChild(ModelsDialog, "modelsDialog")
    assert dialog is not None and dialog.isVisible()
    return dialog


def row_of(dialog: ModelsDialog, name: str) -> int:
    return next(row for row, version in enumerate(dialog.versions) if version.name == name)


def test_the_list_shows_versions_with_parent_data_and_metrics(window: MainWindow):
    dialog = open_dialog(window)
    assert [version.name for version in dialog.versions[:1]] == ["model"]
    assert dialog.table.item(1, 0).text().startswith("ft-")
    assert dialog.table.item(1, 2).text() == "model"  # parent
    # 30 conversations, 10 distinct prompts; 8 replayed examples for each
    assert dialog.table.item(1, 3).text() == "10 corrected; +80 replayed"
    assert "→" in dialog.table.item(1, 5).text()  # original-corpus perplexity before → after
    assert dialog.table.item(0, 6).text() == "active"


def test_activating_switches_the_model_the_app_replies_with_and_back(qtbot, window: MainWindow):
    dialog = open_dialog(window)
    base, tuned = dialog.versions
    dialog.table.selectRow(1)
    assert dialog.activate_button.isEnabled()
    with qtbot.waitSignal(dialog.switcher.switched, timeout=LOAD_TIMEOUT_MS):
        dialog.activate_button.click()
    assert window.store.active_model_version().id == tuned.id
    assert window.controller.model_version_id == tuned.id
    with qtbot.waitSignal(window.controller.reply_stored, timeout=LOAD_TIMEOUT_MS) as reply:
        window.send("hello")
    assert reply.args[0].model_version_id == tuned.id
    assert dialog.table.item(1, 6).text() == "active"

    dialog.table.selectRow(0)  # roll back
    with qtbot.waitSignal(dialog.switcher.switched, timeout=LOAD_TIMEOUT_MS):
        dialog.activate_selected()
    assert window.store.active_model_version().id == base.id
    with qtbot.waitSignal(window.controller.reply_stored, timeout=LOAD_TIMEOUT_MS) as reply:
        window.send("hello again")
    assert reply.args[0].model_version_id == base.id


def test_a_version_that_fails_to_load_is_refused_and_the_old_one_stays(
    qtbot, window: MainWindow, tmp_path: Path
):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json")
    window.store.add_model_version("broken", str(broken), parent_id=1)
    missing = window.store.add_model_version("gone", str(tmp_path / "gone"), parent_id=1)
    dialog = open_dialog(window)

    dialog.table.selectRow(row_of(dialog, "broken"))
    with qtbot.waitSignal(dialog.switcher.switch_failed, timeout=LOAD_TIMEOUT_MS) as failure:
        dialog.activate_selected()
    assert "could not be loaded" in failure.args[0] and "“model” stays in use" in failure.args[0]
    assert window.store.active_model_version().name == "model"
    qtbot.waitUntil(lambda: window.controller.model_ready, timeout=LOAD_TIMEOUT_MS)
    assert window.controller.model_version_id == window.store.active_model_version().id
    assert "could not be loaded" in window.banner.text()

    dialog.table.selectRow(row_of(dialog, "gone"))
    with qtbot.waitSignal(dialog.switcher.switch_failed, timeout=1000) as failure:
        dialog.activate_selected()
    assert "missing" in failure.args[0] and not dialog.switcher.busy
    assert window.store.active_model_version().name == "model"
    assert missing.id in {version.id for version in window.store.list_model_versions()}


def test_deleting_removes_the_version_and_its_folder_but_never_the_base_or_active(
    qtbot, window: MainWindow, finetuned: FinetuneRun, finetuned_copy: Path, tmp_path: Path
):
    own = finetuned_copy / "models" / "ft-copy"
    shutil.copytree(finetuned.done["model_dir"], own)
    window.store.add_model_version("ft-copy", str(own), parent_id=1)
    outside = tmp_path / "my-own-model"
    shutil.copytree(finetuned.base_dir, outside)
    window.store.add_model_version("my-own-model", str(outside))
    dialog = open_dialog(window)

    dialog.table.selectRow(row_of(dialog, "model"))  # active (and what the chat uses)
    assert not dialog.delete_button.isEnabled() and not dialog.delete_selected(confirm=False)

    dialog.table.selectRow(row_of(dialog, "ft-copy"))
    assert dialog.delete_button.isEnabled()
    with qtbot.waitSignal(window.context.actions.changed):  # deleted off the GUI thread
        assert dialog.delete_selected(confirm=False)
    assert not own.exists()
    assert "ft-copy" not in [version.name for version in window.store.list_model_versions()]

    dialog.table.selectRow(row_of(dialog, "my-own-model"))  # not made by the app: folder stays
    with qtbot.waitSignal(window.context.actions.changed):
        assert dialog.delete_selected(confirm=False)
    assert outside.is_dir()
    assert Path(finetuned.done["model_dir"]).is_dir()  # the session's version was never touched
