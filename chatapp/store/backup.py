"""Rolling copies of the database in `<db dir>/backups/`, made with SQLite's backup API.

The backup API copies a consistent snapshot even while the app is writing (a plain file copy
could catch a half-written page or miss what is still in the WAL). A copy is written under a
temporary name and renamed, so a file in `backups/` is always complete. The newest `KEEP` copies
of each database are kept: one at most daily, and one before every schema migration.
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

BACKUP_DIR = "backups"
KEEP = 5
DAILY = timedelta(days=1)
_STAMP_FORMAT = "%Y%m%d-%H%M%S"


def backup_dir(db_path: Path) -> Path:
    return db_path.parent / BACKUP_DIR


def copy_database(source: Path, target: Path) -> None:
    """Copy the database at `source` to `target` through the backup API, atomically."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_WRONLY, 0o600))  # a copy of private chats
    try:
        reader = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            writer = sqlite3.connect(partial)
            try:
                reader.backup(writer)
            finally:
                writer.close()
        finally:
            reader.close()
        with partial.open("rb") as file:
            os.fsync(file.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk must not leave a stub per launch
        raise


def list_backups(db_path: Path) -> list[tuple[datetime, Path]]:
    """The backups of `db_path`, oldest first, with the time each was made (UTC)."""
    pattern = re.compile(rf"{re.escape(db_path.stem)}-(\d{{8}}-\d{{6}})(-[\w.-]+)?\.db")
    found = []
    folder = backup_dir(db_path)
    if folder.is_dir():
        for path in folder.iterdir():
            match = pattern.fullmatch(path.name)
            if match:
                stamp = datetime.strptime(match[1], _STAMP_FORMAT).replace(tzinfo=timezone.utc)
                found.append((stamp, path))
    return sorted(found)


def make_backup(
    db_path: Path, *, reason: str | None = None, now: datetime | None = None, keep: int = KEEP
) -> Path:
    """Back up `db_path` now, then delete all but the newest `keep` backups."""
    now = now or datetime.now(timezone.utc)
    folder = backup_dir(db_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    suffix = f"-{reason}" if reason else ""
    target = folder / f"{db_path.stem}-{now.astimezone(timezone.utc):{_STAMP_FORMAT}}{suffix}.db"
    copy_database(db_path, target)
    for _, old in list_backups(db_path)[:-keep]:
        old.unlink(missing_ok=True)
    return target


def maybe_daily_backup(
    db_path: Path, *, now: datetime | None = None, keep: int = KEEP
) -> Path | None:
    """Back up `db_path` unless a backup less than a day old exists; the new path, or None."""
    now = now or datetime.now(timezone.utc)
    backups = list_backups(db_path)
    if backups and now - backups[-1][0] < DAILY:
        return None
    return make_backup(db_path, now=now, keep=keep)
