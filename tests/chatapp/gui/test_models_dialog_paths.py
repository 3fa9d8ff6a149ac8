"""File > Models… works in the data folder given with `--data-dir`, never the default one."""

from __future__ import annotations

import shutil
from pathlib import Path

from chatapp import paths
from chatapp.gui.models_dialog import ModelsDialog
from chatapp.store import Store
from tests.chatapp.gui.helpers import open_main_window


def test_deleting_a_version_uses_the_data_dir_and_makes_no_default_folder(
    qtbot, store: Store, tiny_model_dir: Path, tmp_path: Path, monkeypatch
):
    default = tmp_path / "default-app-data"
    monkeypatch.setattr(paths, "default_data_dir", lambda: default)
    data_dir = tmp_path / "data"
    own = data_dir / "models" / "copied"  # in the app's models folder: the app may delete it
    shutil.copytree(tiny_model_dir, own)
    window = open_main_window(qtbot, store, tiny_model_dir, data_dir)
    store.add_model_version("copied", str(own))  # no parent: only its folder makes it the app's
    window.menus.models_action.trigger()
    dialog = window.findChild(ModelsDialog, "modelsDialog")
    dialog.select(next(v.id for v in dialog.versions if v.name == "copied"))
    with qtbot.waitSignal(window.context.actions.changed):  # deleted off the GUI thread
        assert dialog.delete_selected(confirm=False)
    assert not own.exists()
    assert not default.exists()
    window.close()
