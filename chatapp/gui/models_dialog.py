"""File > Models…: the model versions (the base and each fine-tune), switching and deleting.

Switching goes through `ModelSwitcher`: the engine worker loads the version's directory, and
only once `model_loaded` arrives is it made active in the store. If loading fails, the
previous model is loaded again and stays active, and the user is told why.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from chatapp.paths import models_dir
from chatapp.store import ModelVersionRecord, StoreError

if TYPE_CHECKING:
    from chatapp.gui.engine_worker import ModelInfo
    from chatapp.gui.main_window import MainWindow

COLUMNS = (
    "Name", "Created", "Parent", "Trained on", "Held-out perplexity", "Chat perplexity", "Status",
)  # fmt: skip


def same_directory(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


class ModelSwitcher(QObject):
    """Loads a version in the engine worker and makes it active only once it has loaded."""

    switched = Signal(object)  # ModelVersionRecord, now loaded and active
    switch_failed = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("modelSwitcher")
        self.main_window = window
        self._pending: ModelVersionRecord | None = None
        self._previous: ModelVersionRecord | None = None
        window.engine.model_loaded.connect(self._on_loaded)
        window.engine.model_load_failed.connect(self._on_load_failed)

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def loaded_version(self) -> ModelVersionRecord | None:
        """The version the chat is using now (by the id set on the last model load)."""
        version_id = self.main_window.controller.model_version_id
        for version in self.main_window.store.list_model_versions():
            if version.id == version_id:
                return version
        return None

    def activate(self, version: ModelVersionRecord) -> bool:
        """Start switching to `version`; False (and `switch_failed`) if it cannot start."""
        if self._pending is not None:
            self.switch_failed.emit("Another model is being loaded; try again in a moment.")
            return False
        if not (Path(version.directory) / "config.json").is_file():
            self.switch_failed.emit(
                f"Model version “{version.name}” cannot be used: its folder {version.directory} "
                "is missing or is not a model directory. The current model stays in use."
            )
            return False
        self._previous = self.loaded_version()
        self._pending = version
        self.main_window.engine.load_model(version.directory)
        return True

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        pending = self._pending
        if pending is None or not same_directory(info.directory, pending.directory):
            return  # a load someone else asked for, or the previous model coming back
        self._pending = None
        try:
            record = self.main_window.store.set_active_model_version(pending.id)
        except StoreError as error:
            self.switch_failed.emit(f"The model loaded but could not be made active: {error}")
            return
        self.main_window.banner.show_message(
            f"Now chatting with model version “{record.name}”.", kind="info", timeout_ms=5000
        )
        self.switched.emit(record)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        pending, previous = self._pending, self._previous
        if pending is None:
            return
        self._pending = None
        keeping = f"“{previous.name}” stays in use" if previous else "the previous model stays"
        text = f"Model version “{pending.name}” could not be loaded ({message}); {keeping}."
        # The worker keeps its old model on a failed load, but the window has marked the chat as
        # having none: loading the previous one again puts every part back in step.
        self.main_window.engine.load_model(
            previous.directory if previous else self.main_window.model_dir
        )
        self.main_window.banner.show_message(text, kind="warning")
        self.switch_failed.emit(text)


def switcher_for(window: MainWindow) -> ModelSwitcher:
    """The window's one switcher (created on first use)."""
    switcher = window.findChild(ModelSwitcher, "modelSwitcher")
    return switcher if switcher is not None else ModelSwitcher(window)


def _perplexities(metrics: dict[str, Any] | None, key: str) -> str:
    if not metrics or metrics.get(key) is None:
        return ""
    after = f"{metrics[key]:.2f}"
    before = metrics.get(f"base_{key}")
    return f"{before:.2f} → {after}" if before is not None else after


def _trained_on(version: ModelVersionRecord) -> str:
    data = version.data or {}
    if version.is_base:
        return "the shipped corpus"
    if "pairs" not in data:
        return ""
    pairs = data["pairs"]
    parts = [f"{pairs.get(kind, 0)} {kind}" for kind in ("corrected", "liked", "user")]
    replay = data.get("replay_examples")
    text = ", ".join(part for part in parts if not part.startswith("0 "))
    return f"{text}; +{replay} replayed" if replay else text


class ModelsDialog(QDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Model versions")
        self.resize(900, 360)
        self.main_window = window
        self.switcher = switcher_for(window)
        self.versions: list[ModelVersionRecord] = []
        intro = QLabel(
            "Every fine-tune makes a new version; the one it started from is never changed. "
            "Make any version active to chat with it (and to roll back).",
            self,
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.activate_button = QPushButton("Make &active", self)
        self.delete_button = QPushButton("&Delete…", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(self.activate_button)
        row.addWidget(self.delete_button)
        row.addStretch(1)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(row)
        self.activate_button.clicked.connect(self.activate_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.switcher.switched.connect(self._on_switched)
        self.switcher.switch_failed.connect(self._on_switch_failed)
        self.refresh()

    def refresh(self) -> None:
        selected = self.selected()
        try:
            self.versions = self.main_window.store.list_model_versions()
        except StoreError as error:
            self.status.setText(str(error))
            return
        names = {version.id: version.name for version in self.versions}
        loaded = self.main_window.controller.model_version_id
        self.table.setRowCount(len(self.versions))
        for row, version in enumerate(self.versions):
            flags = [
                word
                for word, on in (
                    ("active", version.active),
                    ("in use", version.id == loaded and not version.active),
                    ("base", version.is_base),
                )
                if on
            ]
            cells = (
                version.name,
                version.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                names.get(version.parent_id, "") if version.parent_id else "",
                _trained_on(version),
                _perplexities(version.metrics, "heldout_perplexity"),
                _perplexities(version.metrics, "valid_perplexity"),
                ", ".join(flags),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(version.directory)
                self.table.setItem(row, column, item)
        if selected is not None:
            self.select(selected.id)
        self._update_buttons()

    def select(self, version_id: int) -> None:
        for row, version in enumerate(self.versions):
            if version.id == version_id:
                self.table.selectRow(row)

    def selected(self) -> ModelVersionRecord | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.versions[rows[0].row()] if rows else None

    def _in_use(self, version: ModelVersionRecord) -> bool:
        return version.active or version.id == self.main_window.controller.model_version_id

    def _update_buttons(self) -> None:
        version = self.selected()
        self.activate_button.setEnabled(
            version is not None and not self._in_use(version) and not self.switcher.busy
        )
        self.delete_button.setEnabled(
            version is not None and not version.is_base and not self._in_use(version)
        )

    def activate_selected(self) -> None:
        version = self.selected()
        if version is None:
            return
        if self.switcher.activate(version):
            self.status.setText(f"Loading “{version.name}”…")
            self._update_buttons()

    def _owns_directory(self, version: ModelVersionRecord) -> bool:
        """Only folders the app made (fine-tune output, or inside its models folder) are deleted."""
        if version.parent_id is not None:
            return True
        folder = models_dir(getattr(self.window, "data_dir", None)).resolve()
        return folder in Path(version.directory).resolve().parents

    def delete_selected(self, *, confirm: bool = True) -> bool:
        version = self.selected()
        if version is None:
            return False
        if version.is_base or self._in_use(version):
            self.status.setText(
                f"“{version.name}” is the base model or in use: make another version active first."
            )
            return False
        remove_files = self._owns_directory(version) and Path(version.directory).is_dir()
        where = (
            f"Its folder will be deleted too:\n{version.directory}"
            if remove_files
            else f"Its folder is not the app's and stays in place:\n{version.directory}"
        )
        if confirm:
            answer = QMessageBox.question(
                self, "Delete model version", f"Delete model version “{version.name}”?\n\n{where}"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            self.main_window.store.delete_model_version(version.id)
        except StoreError as error:
            self.status.setText(str(error))
            return False
        if remove_files:
            shutil.rmtree(version.directory, ignore_errors=True)
        self.status.setText(f"Deleted “{version.name}”.")
        self.refresh()
        return True

    @Slot(object)
    def _on_switched(self, record: ModelVersionRecord) -> None:
        self.status.setText(f"“{record.name}” is now active.")
        self.refresh()

    @Slot(str)
    def _on_switch_failed(self, message: str) -> None:
        self.status.setText(message)
        self.refresh()

    def showEvent(self, event: Any) -> None:
        self.refresh()
        super().showEvent(event)


def open_models_dialog(window: MainWindow) -> ModelsDialog:
    """Show the window's models dialog (non-modal; one per window)."""
    dialog = window.findChild(ModelsDialog, "modelsDialog")
    if dialog is None:
        dialog = ModelsDialog(window)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
