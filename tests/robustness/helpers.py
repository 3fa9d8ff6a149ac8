"""Helpers shared by the robustness tests: driving the window, checking the database."""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt

from chatapp.gui.main_window import MainWindow
from chatapp.store import Store
from chatapp.store.records import MessageRecord
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, open_main_window

REPO_ROOT = Path(__file__).resolve().parents[2]


def fast_replies(window: MainWindow) -> None:
    """Greedy replies of at most 3 tokens: the app's paths run, the model barely does."""
    panel = window.decoding_panel
    panel.set_config(panel.config.replace(strategy="greedy", min_length=1, max_length=3))


def open_window(qtbot, store: Store, model_dir: Path) -> MainWindow:
    """A real window over `store` (opened by the caller with the settings it needs)."""
    window = open_main_window(qtbot, store, model_dir)
    fast_replies(window)
    return window


def send_through_composer(qtbot, window: MainWindow, text: str) -> tuple[str, MessageRecord]:
    """Put `text` in the message box as a paste would, press Enter, wait for the stored reply.

    Returns what the box held when Enter was pressed (Qt turns "\\r\\n" into "\\n", for one)
    and the reply's record.
    """
    window.composer.set_text(text)
    typed = window.composer.text()
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    return typed, blocker.args[0]


def send_through_controller(qtbot, window: MainWindow, text: str) -> MessageRecord:
    """`ChatController.send(text)` (a Python str, as from the clipboard), waiting for the reply."""
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as blocker:
        assert window.controller.send(text), window.banner.text()
    return blocker.args[0]


def all_texts(path: Path) -> list[tuple[int, str, str]]:
    """(conversation id, role, text) of every stored message, read with plain sqlite3."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT conversation_id, role, text FROM messages"
            " ORDER BY conversation_id, position, id"
        ).fetchall()
    finally:
        connection.close()


class Bomb:
    """Unpickling it creates `marker`: proof that something ran pickle on the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def plant_pickle(path: Path, marker: Path, *, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
    """Write a pickle that would create `marker` if loaded, after checking that it would."""
    data = pickle.dumps({"conversations": [Bomb(marker)]}, protocol=protocol)
    probe = marker.with_name(marker.name + ".probe")
    pickle.loads(pickle.dumps(Bomb(probe), protocol=protocol))
    assert probe.exists(), "the bomb is not armed"
    probe.unlink()
    path.write_bytes(data)


def python_env() -> dict[str, str]:
    """The environment for a child Python that imports this repository."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONIOENCODING": "utf-8",
    }


def spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
