"""Every field of every message survives an archive, checked value by value against what was
seeded (`every_field.py`), not against a second export (#27 item 6); and a frozen archive file
in tests/fixtures still imports to exactly what it says."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from chatapp.store import Store, read_archive
from tests.chatapp.store.every_field import (
    all_messages,
    assert_branches_follow,
    assert_every_field,
    seed_every_field,
)
from tests.conftest import FIXTURES

GOLDEN = FIXTURES / "every_field_archive.json"  # made once by the exporter, then frozen


def fresh_store(path: Path) -> tuple[Store, int]:
    """A new database with its own "base" version (each install registers one), and its id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store.open(path)
    return store, store.add_model_version("base", path.parent / "base", is_base=True).id


def test_every_field_survives_export_and_import_into_a_fresh_database(store, tmp_path):
    version = store.add_model_version("base", "/models/base", is_base=True, activate=True)
    conversation_id = seed_every_field(store, version.id)
    archive = tmp_path / "archive.json"
    archive.write_text(json.dumps(store.export_archive(), ensure_ascii=False), encoding="utf-8")
    other, other_version = fresh_store(tmp_path / "other" / "conversations.db")
    with other:
        summary = other.import_archive(read_archive(archive))
        assert (summary.conversations_added, summary.messages_added) == (1, 7)
        [imported] = other.list_conversations()
        assert_every_field(other, imported.id, other_version)
        original = store.get_conversation(conversation_id)
        assert (imported.uid, imported.created_at, imported.updated_at) == (
            original.uid,
            original.created_at,
            original.updated_at,
        )
        before, after = all_messages(store, conversation_id), all_messages(other, imported.id)
        for text, record in before.items():
            assert (after[text].uid, after[text].created_at) == (record.uid, record.created_at)
        assert other.corrections()[0].corrected_at == store.corrections()[0].corrected_at
        assert_branches_follow(other, imported.id)


def test_the_golden_archive_imports_and_reads_back_exactly(tmp_path):
    other, version = fresh_store(tmp_path / "conversations.db")
    with other:
        summary = other.import_archive(read_archive(GOLDEN))
        assert (summary.conversations_added, summary.messages_added) == (1, 7)
        [conversation] = other.list_conversations()
        assert_every_field(other, conversation.id, version)
        assert conversation.uid == "eba356ac-b529-4b17-9f4d-56c226935e52"
        assert conversation.created_at == datetime.fromisoformat("2026-12-07T13:42:02.295743+00:00")
        assert conversation.updated_at == datetime.fromisoformat("2026-12-07T13:42:02.460784+00:00")
        first = all_messages(other, conversation.id)["hi"]
        assert first.uid == "a927d4fc-1c87-4c2d-9e6b-3a4f60bc1d0e"
        assert first.created_at == datetime.fromisoformat("2026-12-07T13:42:02.357094+00:00")
        corrected_at = other.corrections()[0].corrected_at
        assert corrected_at == datetime.fromisoformat("2026-12-07T13:42:02.396791+00:00")
        assert_branches_follow(other, conversation.id)
        again = other.import_archive(read_archive(GOLDEN))  # by uid: no duplicate
        assert (again.conversations_added, again.conversations_skipped) == (0, 1)
