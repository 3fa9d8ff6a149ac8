"""Opening the database: settings, migrations, and files the store must refuse or survive."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from chatapp.store import (
    CorruptDatabaseError,
    DatabaseLockedError,
    DiskFullError,
    NewerDatabaseError,
    ReadOnlyDatabaseError,
    Store,
    StoreError,
    list_backups,
)
from chatapp.store.database import alembic_config, head_revision
from chatapp.store.models import Base
from tests.database_checks import change_behind_the_app, older_app_database


def _pragma(store: Store, name: str) -> object:
    with store._db.read() as session:
        return session.connection().exec_driver_sql(f"PRAGMA {name}").scalar()


def test_every_connection_has_the_store_settings(store):
    assert _pragma(store, "journal_mode") == "wal"
    assert _pragma(store, "synchronous") == 2  # FULL
    assert _pragma(store, "foreign_keys") == 1
    assert _pragma(store, "busy_timeout") == 5000


def test_orm_models_match_the_migrated_schema(store, db_path):
    engine = create_engine(f"sqlite:///{db_path}")

    def is_model_table(name: str | None, kind: str, _parent: object) -> bool:
        # The FTS5 index and its shadow tables live only in the migrations.
        return not (kind == "table" and name and name.startswith("messages_fts"))

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": is_model_table}
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_a_0001_database_is_upgraded_in_place_after_a_backup(db_path):
    older_app_database(db_path, "0001", "Old chat", ("remember the lighthouse", "I do"))
    with Store.open(db_path) as store:
        (conversation,) = store.list_conversations()
        assert conversation.title == "Old chat"
        assert store.history(conversation.id) == ["remember the lighthouse", "I do"]
        # 0002's index covers the rows written before it existed.
        assert [hit.message_id for hit in store.search("lighthouse")] == [1]
        store.save_preset("calm", {"temperature": 0.7})  # 0002's table
    backups = list_backups(db_path)
    assert len(backups) == 1 and backups[0][1].name.endswith(f"-before-{head_revision()}.db")
    backup = sqlite3.connect(backups[0][1])
    assert backup.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    assert backup.execute("SELECT count(*) FROM messages").fetchone() == (2,)
    backup.close()


def test_downgrade_then_upgrade_keeps_the_data(db_path, chat):
    conversation = chat("hello sailor", "ahoy")
    command.downgrade(alembic_config(db_path), "0001")
    with Store.open(db_path) as reopened:
        assert reopened.history(conversation.id) == ["hello sailor", "ahoy"]
        assert reopened.search("sailor")[0].conversation_id == conversation.id


def test_a_database_from_a_newer_app_is_refused_and_left_untouched(db_path, file_sha256):
    with Store.open(db_path) as store:
        store.add_user_turn(store.create_conversation().id, "from the future")
    change_behind_the_app(db_path, "UPDATE alembic_version SET version_num = '9999'")
    before = file_sha256(db_path)
    backups_before = list_backups(db_path)

    with pytest.raises(NewerDatabaseError, match="newer version") as caught:
        Store.open(db_path)

    assert "untouched" in str(caught.value)
    assert file_sha256(db_path) == before
    assert list_backups(db_path) == backups_before


def test_a_file_that_is_not_a_database_is_refused_untouched(db_path, file_sha256):
    db_path.write_bytes(b"these are my notes, not a database\n" * 200)
    before = file_sha256(db_path)
    with pytest.raises(CorruptDatabaseError, match="not an SQLite file"):
        Store.open(db_path)
    assert file_sha256(db_path) == before


def test_a_damaged_database_is_refused_untouched(db_path, file_sha256):
    with Store.open(db_path) as store:
        conversation = store.create_conversation()
        for index in range(200):
            store.add_user_turn(conversation.id, f"message number {index} " * 20)
    data = bytearray(db_path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    # Keep page 1 (header and schema) so SQLite opens it, and scribble over the rest.
    for offset in range(page_size, len(data), 97):
        data[offset] = 0xA5
    db_path.write_bytes(bytes(data))
    before = file_sha256(db_path)

    with pytest.raises(CorruptDatabaseError, match="damaged"):
        Store.open(db_path)
    assert file_sha256(db_path) == before


def test_another_programs_database_is_refused(db_path):
    connection = sqlite3.connect(db_path)
    connection.execute("CREATE TABLE notes (body TEXT)")
    connection.close()
    with pytest.raises(StoreError, match="not a Seq2Seq Chat database"):
        Store.open(db_path)


def test_a_database_opened_read_only_reads_and_refuses_writes(db_path, file_sha256):
    with Store.open(db_path) as store:
        conversation = store.create_conversation()
        store.add_user_turn(conversation.id, "keep me")
    before = file_sha256(db_path)

    # mode=ro is enforced by SQLite itself, so this holds even for root, whom chmod won't stop.
    with Store.open(db_path, read_only=True) as store:
        assert store.read_only
        assert store.history(conversation.id) == ["keep me"]
        with pytest.raises(ReadOnlyDatabaseError, match="read-only"):
            store.add_user_turn(conversation.id, "lost")
    assert file_sha256(db_path) == before


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root can write a file whatever its mode",
)
def test_an_unwritable_file_opens_read_only(db_path):
    with Store.open(db_path) as store:
        store.create_conversation()
    db_path.chmod(0o444)
    try:
        with Store.open(db_path) as store:
            assert store.read_only
            with pytest.raises(ReadOnlyDatabaseError):
                store.create_conversation()
    finally:
        db_path.chmod(0o644)


def test_opening_nothing_read_only_or_in_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no database"):
        Store.open(tmp_path / "absent.db", read_only=True)
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(tmp_path / "no" / "such" / "folder" / "x.db")


def test_a_locked_database_fails_within_the_busy_timeout_and_loses_nothing(db_path):
    with Store.open(db_path, busy_timeout=0.3) as store:
        conversation = store.create_conversation()
        kept = store.add_user_turn(conversation.id, "before the lock")
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            with pytest.raises(DatabaseLockedError, match="locked by another program"):
                store.add_user_turn(conversation.id, "during the lock")
            assert 0.25 <= time.monotonic() - started < 3
            assert store.history(conversation.id) == ["before the lock"]  # WAL: reads go on
        finally:
            other.execute("ROLLBACK")
            other.close()
        after = store.add_user_turn(conversation.id, "after the lock")
        assert [m.id for m in store.page_messages(conversation.id, 0, 10)] == [kept.id, after.id]


def test_a_full_disk_is_a_clear_error_and_committed_data_survives(db_path, integrity_check):
    with Store.open(db_path) as store:
        conversation = store.create_conversation()
    pages = sqlite3.connect(db_path).execute("PRAGMA page_count").fetchone()[0]
    saved = []
    with Store.open(db_path, max_page_count=pages + 40) as store:
        with pytest.raises(DiskFullError, match="disk is full"):
            for index in range(100):
                saved.append(store.add_user_turn(conversation.id, f"{index} " + "x" * 20_000).id)
        assert 0 < len(saved) < 100
    assert integrity_check(db_path) == "ok"
    with Store.open(db_path) as store:
        assert [m.id for m in store.page_messages(conversation.id, 0, 200)] == saved


def test_the_known_revisions_are_the_migrations_folder():
    from alembic.script import ScriptDirectory

    from chatapp.store.database import MIGRATIONS_DIR, SCHEMA_REVISIONS

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    folder = [script.revision for script in reversed(list(scripts.walk_revisions()))]
    assert list(SCHEMA_REVISIONS) == folder
    assert scripts.get_current_head() == SCHEMA_REVISIONS[-1]
