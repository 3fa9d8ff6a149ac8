"""File > Export and File > Import: the same formats as `main.py export` / `import`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from chatapp.atomic import atomic_text_file
from chatapp.store import StoreError, read_archive, write_markdown

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
    return (
        f"Imported {summary.conversations_added} conversations "
        f"({summary.messages_added} messages); "
        f"{summary.conversations_skipped} were already here."
    )


def import_dialog(window: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(
        window, "Import conversations", "", "JSON archive (*.json)"
    )
    if not path:
        return
    try:
        message = import_archive_file(window, path)
    except (ValueError, StoreError) as error:
        window.banner.show_message(f"Nothing was imported: {error}")
        return
    window.banner.show_message(message, kind="info", timeout_ms=5000)
