"""A fine-tune stops when asked, in every phase (issue 26, item 1): SIGTERM while it is still
reading the saved conversations ends it within seconds, writing nothing."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from chatapp.store import Store
from tests.chatapp.finetune.conftest import finetune_argv
from tests.robustness.helpers import REPO_ROOT, python_env

CONVERSATIONS, MESSAGES_EACH = 200, 1_000  # long enough that reading them takes seconds


def seed_long_chats(db: Path) -> None:
    """Many long chats whose every reply is rated up, written with plain SQL (fast)."""
    Store.open(db).close()  # the schema
    connection = sqlite3.connect(db)
    with connection:
        for number in range(CONVERSATIONS):
            cursor = connection.execute(
                "INSERT INTO conversations (uid, title, created_at, updated_at) "
                "VALUES (?, 'long', '2026-01-01', '2026-01-01')",
                (f"c{number}",),
            )
            connection.executemany(
                "INSERT INTO messages (uid, conversation_id, position, role, text, created_at,"
                " chosen, rating, stopped) VALUES (?, ?, ?, ?, ?, '2026-01-01', 1, ?, 0)",
                [
                    (f"m{number}-{p}", cursor.lastrowid, p, ("user", "bot")[p % 2],
                     f"turn {p} of chat {number}", p % 2)
                    for p in range(MESSAGES_EACH)
                ],
            )  # fmt: skip
    connection.close()


def test_sigterm_while_reading_the_saved_conversations_stops_within_two_seconds(
    tmp_path: Path, tiny_model_dir: Path
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    seed_long_chats(data_dir / "conversations.db")
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main.py"), *finetune_argv(data_dir, tiny_model_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=python_env(),
    )  # fmt: skip
    first = json.loads(process.stdout.readline())
    assert first == {"event": "status", "message": "Reading your saved conversations…"}, first
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
    took = time.monotonic() - sent
    rest = [json.loads(line) for line in process.stdout.read().splitlines()]
    assert took < 2.0 and process.returncode == 128 + signal.SIGTERM, (took, process.returncode)
    assert rest[-1]["event"] == "cancelled"
    assert not (data_dir / "models").exists() or list((data_dir / "models").iterdir()) == []
    with Store.open(data_dir / "conversations.db") as store:
        (run,) = store.list_finetune_runs()
        assert run.status == "cancelled" and "while reading the saved conversations" in run.log
