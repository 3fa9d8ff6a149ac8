"""A SQLite file made or checked from outside the app, with plain sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from chatapp.store.database import alembic_config


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of the file: "ok" when it is sound."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def change_behind_the_app(path: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    """One statement run on the file with plain sqlite3 and committed: a change the app did not
    make (another program, a damaged file, an older or newer app)."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(sql, params)
    finally:
        connection.close()


def older_app_database(path: Path, revision: str, title: str, turns: tuple[str, ...] = ()) -> None:
    """A database as an older app left it: the schema at Alembic `revision` and one chat (id 1)
    titled `title` whose messages are `turns`, the user's and the bot's in turn. Written with
    plain sqlite3: the app's own models are of the newest schema."""
    command.upgrade(alembic_config(path), revision)
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            "INSERT INTO conversations (id, uid, title, created_at, updated_at) "
            "VALUES (1, 'c-1', ?, '2026-01-02 03:04:05', '2026-01-02 03:04:06')",
            (title,),
        )
        connection.executemany(
            "INSERT INTO messages (uid, conversation_id, position, role, text, created_at) "
            "VALUES (?, 1, ?, ?, ?, '2026-01-02 03:04:05')",
            [(f"m-{i}", i, ("user", "bot")[i % 2], text) for i, text in enumerate(turns)],
        )
    connection.close()
