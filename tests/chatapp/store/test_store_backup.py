"""Rolling backups: at most daily, before migrations, newest five kept, each a sound copy."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from chatapp.store import Store, list_backups, make_backup, maybe_daily_backup


def test_daily_backups_roll_and_keep_the_newest_five(store, chat, db_path, integrity_check):
    chat("worth keeping", "indeed")
    start = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    first = maybe_daily_backup(db_path, now=start)
    assert first is not None
    assert maybe_daily_backup(db_path, now=start + timedelta(hours=23)) is None
    for day in range(1, 7):
        assert maybe_daily_backup(db_path, now=start + timedelta(days=day, minutes=1))

    backups = list_backups(db_path)
    assert len(backups) == 5
    assert [stamp.day for stamp, _ in backups] == [3, 4, 5, 6, 7]
    assert not first.exists()
    newest = backups[-1][1]
    assert integrity_check(newest) == "ok"
    copy = sqlite3.connect(newest)
    assert copy.execute("SELECT text FROM messages ORDER BY id").fetchall() == [
        ("worth keeping",),
        ("indeed",),
    ]
    copy.close()
    assert sorted(p.name for p in newest.parent.iterdir()) == sorted(p.name for _, p in backups)


def test_reopening_makes_the_daily_backup_but_a_new_database_needs_none(db_path):
    with Store.open(db_path) as store:
        store.create_conversation()
    assert list_backups(db_path) == []
    Store.open(db_path).close()
    assert len(list_backups(db_path)) == 1
    Store.open(db_path).close()
    assert len(list_backups(db_path)) == 1


def test_a_backup_with_a_reason_is_named_for_it(store, db_path):
    path = make_backup(db_path, reason="before-0003")
    assert path.name.endswith("-before-0003.db")
    assert list_backups(db_path)[-1][1] == path
