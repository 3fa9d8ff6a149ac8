"""File > Models…: the model versions (the base and each fine-tune), switching and deleting.

Switching goes through the context's `ModelSwitcher`: the engine worker loads the version's
directory, and only once it has loaded is it made active in the store. If loading fails, the
previous model is loaded again and stays active, and the user is told why.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
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
    QWidget,
)

from chatapp.finetune.events import read_stored_data
from chatapp.gui.actions import Change
from chatapp.gui.one_dialog import show_one
from chatapp.paths import models_dir
from chatapp.store import ModelVersionRecord, StoreError
from engine.finetune_figures import version_figures
from engine.pairs import PAIR_KINDS

if TYPE_CHECKING:
    from chatapp.gui.context import AppContext

COLUMNS = (
    "Name", "Created", "Parent", "Trained on", "Held-out perplexity", "Chat perplexity", "Status",
)  # fmt: skip
TRAINED_ON = COLUMNS.index("Trained on")


def _perplexities(metrics: dict[str, Any] | None, name: str) -> str:
    """The version's perplexity on `name` ("heldout" or "valid"), after its parent's when the
    record has both: "62.79 → 64.80"."""
    before, after = (getattr(figures, name) for figures in version_figures(metrics))
    if after is None:
        return ""
    shown = f"{after.perplexity:.2f}"
    return f"{before.perplexity:.2f} → {shown}" if before else shown


def _trained_on(version: ModelVersionRecord) -> str:
    if version.is_base:
        return "the shipped corpus"
    counts = read_stored_data(version.data).counts
    if not counts.pairs:  # a model opened with --model: the app did not train it
        return ""
    parts = [f"{counts.pairs.get(kind, 0)} {kind}" for kind in PAIR_KINDS]
    text = ", ".join(part for part in parts if not part.startswith("0 "))
    replay = counts.replay_examples
    return f"{text}; +{replay} replayed" if replay else text


class ModelsDialog(QDialog):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Model versions")
        self.resize(900, 360)
        self.context = context
        self.switcher = context.switcher
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
        # The longest text takes what is left, cut with "…": the table fits the dialog
        # instead of scrolling sideways (the whole text is in the cell's tooltip).
        header.setSectionResizeMode(TRAINED_ON, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setWordWrap(False)
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
        context.actions.changed.connect(self._on_changed)
        self.refresh()

    def refresh(self) -> None:
        selected = self.selected()
        try:
            self.versions = self.context.store.list_model_versions()
        except StoreError as error:
            self.status.setText(str(error))
            return
        names = {version.id: version.name for version in self.versions}
        loaded = self.switcher.loaded_version_id
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
                _perplexities(version.metrics, "heldout"),
                _perplexities(version.metrics, "valid"),
                ", ".join(flags),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{text}\n{version.directory}" if text else version.directory)
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
        return version.active or version.id == self.switcher.loaded_version_id

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
        folder = models_dir(self.context.paths.data_dir).resolve()
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
        self.context.actions.run(
            lambda store: store.delete_model_version(version.id),
            success=lambda _: self._deleted(version, remove_files=remove_files),
            failure=self.status.setText,
            changes=Change.MODELS,
        )
        return True

    def _deleted(self, version: ModelVersionRecord, *, remove_files: bool) -> None:
        if remove_files:
            shutil.rmtree(version.directory, ignore_errors=True)
        self.status.setText(f"Deleted “{version.name}”.")  # `changed` refreshes the table

    @Slot(object)
    def _on_changed(self, changes: Change) -> None:
        if changes & Change.MODELS and self.isVisible():
            self.refresh()  # a new version from a fine-tune, or a deletion

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


def open_models_dialog(context: AppContext, parent: QWidget) -> ModelsDialog:
    """Show `parent`'s models dialog (non-modal; one per window)."""
    return show_one(parent, ModelsDialog, "modelsDialog", lambda: ModelsDialog(context, parent))
