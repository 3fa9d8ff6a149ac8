"""Checks on a SQLite file made from outside the app, with plain sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of the file: "ok" when it is sound."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
