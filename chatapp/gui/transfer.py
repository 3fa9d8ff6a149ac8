"""File > Export and File > Import: the same formats as `main.py export` / `import`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from chatapp.atomic import atomic_text_file
from chatapp.gui.actions import Change
from chatapp.gui.banner import BannerKind
from chatapp.gui.timeouts import BANNER_BRIEF_MS, BANNER_RESULT_MS
from chatapp.store import ImportSummary, Store, read_archive, write_markdown

if TYPE_CHECKING:
    from chatapp.gui.context import AppContext

LAST_FOLDER_KEY = "transfer/last_folder"
FILE_NAME_CHARS = 40  # a default export name: the title's first words, not the whole turn


def export_conversation(
    store: Store, conversation_id: int | None, kind: str, path: str | Path
) -> None:
    """Write one conversation (all, if None) as Markdown or a JSON archive, all or nothing."""
    with atomic_text_file(path) as out:
        if kind == "markdown":
            write_markdown(store, out, conversation_id=conversation_id)
        else:
            json.dump(store.export_archive(conversation_id), out, ensure_ascii=False, indent=1)
            out.write("\n")


def file_name_of(title: str) -> str:
    """The chat's title as a file name that every system accepts, cut at a word to at most
    FILE_NAME_CHARS characters (a title made from a long first turn ends in "…": dropped)."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title)
    name = " ".join(name.split()).removesuffix("…").strip(" .")
    if len(name) > FILE_NAME_CHARS:
        cut = name[: FILE_NAME_CHARS + 1]
        name = cut.rsplit(" ", 1)[0] if " " in cut else cut[:FILE_NAME_CHARS]
    return name.strip(" .,;:-") or "conversation"


def suggested_path(title: str, suffix: str) -> Path:
    """Where an export is offered: the folder used last, at first the user's documents."""
    last = QSettings().value(LAST_FOLDER_KEY, "", type=str)
    folder = Path(last) if last and Path(last).is_dir() else None
    if folder is None:
        documents = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation
        )
        folder = Path(documents) if documents else Path.home()
    return folder / f"{file_name_of(title)}{suffix}"


def export_conversation_dialog(
    context: AppContext, parent: QWidget, conversation_id: int | None, kind: str
) -> None:
    if conversation_id is None:
        context.show_message(
            "Open a conversation to export it.", kind=BannerKind.INFO, timeout_ms=BANNER_BRIEF_MS
        )
        return
    suffix, label = (".md", "Markdown (*.md)") if kind == "markdown" else (".json", "JSON (*.json)")
    title = context.store.get_conversation(conversation_id).title
    path, _ = QFileDialog.getSaveFileName(
        parent, "Export conversation", str(suggested_path(title, suffix)), label
    )
    if not path:
        return
    context.settings().setValue(LAST_FOLDER_KEY, str(Path(path).parent))
    export_in_background(context, conversation_id, kind, path)


def export_in_background(
    context: AppContext, conversation_id: int | None, kind: str, path: str | Path
) -> None:
    """Write the export as a store action (off the GUI thread, as an import is); the banner
    says once how it went."""
    context.actions.run(
        lambda store: export_conversation(store, conversation_id, kind, path),
        success=lambda _: context.show_message(
            f"Exported to {path}", kind=BannerKind.INFO, timeout_ms=BANNER_BRIEF_MS
        ),
        failure=lambda message: context.show_message(
            f"The export failed, nothing was written: {message}"
        ),
    )


def import_archive_file(
    store: Store, path: str | Path, on_progress: Callable[[int, int], None] | None = None
) -> str:
    """Import a JSON archive; returns a one-line summary (raises ValueError/StoreError)."""
    return summary_line(store.import_archive(read_archive(path), on_progress=on_progress))


def summary_line(summary: ImportSummary) -> str:
    return f"Imported {summary.describe()}."


class ImportJob(QObject):
    """One import, run as a store action (off the GUI thread); reports back as signals, on the
    GUI thread (the action's progress, emitted in its thread, is queued to the slot below)."""

    progress = Signal(int, int)  # conversations written, of how many
    succeeded = Signal(str)  # the one-line summary
    failed = Signal(str)
    _progressed = Signal(int, int)

    def __init__(self, context: AppContext, path: str | Path) -> None:
        super().__init__()
        self._actions, self._path = context.actions, path
        self._progressed.connect(self._on_progress)

    def start(self) -> None:
        self._actions.run(
            lambda store: import_archive_file(store, self._path, self._progressed.emit),
            success=self.succeeded.emit,
            failure=self.failed.emit,
            changes=Change.CONVERSATIONS,
        )

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.emit(done, total)


def import_in_background(context: AppContext, parent: QWidget, path: str | Path) -> ImportJob:
    """Import `path` off the GUI thread, with a progress dialog if it takes a while."""
    job = ImportJob(context, path)
    progress = QProgressDialog("Importing conversations…", "", 0, 0, parent)
    progress.setCancelButton(None)  # each batch is committed: stopping half-way would mislead
    progress.setMinimumDuration(500)
    progress.setWindowModality(Qt.WindowModality.WindowModal)
    job.progress.connect(lambda done, total: (progress.setMaximum(total), progress.setValue(done)))

    def finish(message: str, *, ok: bool) -> None:
        progress.reset()
        progress.deleteLater()
        job.deleteLater()
        if ok:
            context.show_message(message, kind=BannerKind.INFO, timeout_ms=BANNER_RESULT_MS)
        else:  # a failed batch keeps the conversations before it: the sidebar shows them
            context.actions.announce(Change.CONVERSATIONS)
            context.show_message(f"The import stopped: {message}")

    job.succeeded.connect(lambda message: finish(message, ok=True))
    job.failed.connect(lambda message: finish(message, ok=False))
    job.start()
    return job


def import_dialog(context: AppContext, parent: QWidget) -> None:
    path, _ = QFileDialog.getOpenFileName(
        parent, "Import conversations", "", "JSON archive (*.json)"
    )
    if path:
        import_in_background(context, parent, path)
