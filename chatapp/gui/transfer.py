"""File > Export and File > Import: the same formats as `main.py export` / `import`."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from chatapp.atomic import atomic_text_file
from chatapp.store import ImportSummary, StoreError, read_archive, write_markdown

if TYPE_CHECKING:
    from chatapp.gui.main_window import MainWindow


def export_conversation(window: MainWindow, kind: str, path: str | Path) -> None:
    conversation_id = window.controller.conversation_id
    with atomic_text_file(path) as out:
        if kind == "markdown":
            write_markdown(window.store, out, conversation_id=conversation_id)
        else:
            json.dump(
                window.store.export_archive(conversation_id), out, ensure_ascii=False, indent=1
            )
            out.write("\n")


def export_conversation_dialog(window: MainWindow, kind: str) -> None:
    if window.controller.conversation_id is None:
        window.banner.show_message(
            "Open a conversation to export it.", kind="info", timeout_ms=4000
        )
        return
    suffix, label = (".md", "Markdown (*.md)") if kind == "markdown" else (".json", "JSON (*.json)")
    path, _ = QFileDialog.getSaveFileName(
        window, "Export conversation", f"conversation{suffix}", label
    )
    if not path:
        return
    try:
        export_conversation(window, kind, path)
    except (OSError, StoreError) as error:
        window.banner.show_message(f"The export failed, nothing was written: {error}")
        return
    window.banner.show_message(f"Exported to {path}", kind="info", timeout_ms=4000)


def import_archive_file(window: MainWindow, path: str | Path) -> str:
    """Import a JSON archive; returns a one-line summary (raises ValueError/StoreError)."""
    summary = window.store.import_archive(read_archive(path))
    window.refresh_conversations()
    return summary_line(summary)


def summary_line(summary: ImportSummary) -> str:
    return (
        f"Imported {summary.conversations_added} conversations "
        f"({summary.messages_added} messages); "
        f"{summary.conversations_skipped} were already here."
    )


class ImportJob(QObject):
    """Reads and imports an archive on a background thread; reports back as signals, on the
    GUI thread (the worker's own signals are queued to the slots below)."""

    progress = Signal(int, int)  # conversations written, of how many
    succeeded = Signal(str)  # the one-line summary
    failed = Signal(str)
    _progressed = Signal(int, int)
    _ended = Signal(bool, str)

    def __init__(self, window: MainWindow, path: str | Path) -> None:
        super().__init__(window)
        self._store, self._path = window.store, path
        self._progressed.connect(self._on_progress)
        self._ended.connect(self._on_end)

    def start(self) -> None:
        threading.Thread(target=self._run, name="import", daemon=True).start()

    def _run(self) -> None:
        try:
            data = read_archive(self._path)
            summary = self._store.import_archive(data, on_progress=self._progressed.emit)
        except StoreError as error:
            self._ended.emit(False, str(error))
            return
        except Exception as error:  # never leave the progress dialog up for ever
            self._ended.emit(False, f"{type(error).__name__}: {error}")
            raise
        self._ended.emit(True, summary_line(summary))

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.emit(done, total)

    @Slot(bool, str)
    def _on_end(self, ok: bool, message: str) -> None:
        (self.succeeded if ok else self.failed).emit(message)


def import_in_background(window: MainWindow, path: str | Path) -> ImportJob:
    """Import `path` off the GUI thread, with a progress dialog if it takes a while."""
    job = ImportJob(window, path)
    progress = QProgressDialog("Importing conversations…", "", 0, 0, window)
    progress.setCancelButton(None)  # each batch is committed: stopping half-way would mislead
    progress.setMinimumDuration(500)
    progress.setWindowModality(Qt.WindowModality.WindowModal)
    job.progress.connect(lambda done, total: (progress.setMaximum(total), progress.setValue(done)))

    def finish(message: str, *, ok: bool) -> None:
        progress.reset()
        progress.deleteLater()
        job.deleteLater()
        window.refresh_conversations()  # a failed batch keeps the conversations before it
        if ok:
            window.banner.show_message(message, kind="info", timeout_ms=5000)
        else:
            window.banner.show_message(f"The import stopped: {message}")

    job.succeeded.connect(lambda message: finish(message, ok=True))
    job.failed.connect(lambda message: finish(message, ok=False))
    job.start()
    return job


def import_dialog(window: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(
        window, "Import conversations", "", "JSON archive (*.json)"
    )
    if path:
        import_in_background(window, path)
