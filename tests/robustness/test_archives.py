"""Archives and corpora from elsewhere: each either imports or is refused with the project's
own error, and a refused one writes nothing (docs/RELIABILITY.md, "Archives and corpora")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatapp.store import ArchiveError, Store
from tests.database_checks import integrity
from tests.robustness.helpers import all_texts
from tests.robustness.test_bad_files import one_line, run_main

ROLES = ("user", "bot")


def archive_of(*messages: dict) -> dict:
    """A one-conversation archive; each message given as the fields that differ from a turn."""
    base = {"position": 0, "role": "user", "text": "hi", "created_at": "2026-01-01T00:00:00",
            "chosen": True}  # fmt: skip
    return {
        "format": "seq2seq-chat-archive",
        "version": 1,
        "conversations": [
            {
                "uid": "c-1",
                "title": "from elsewhere",
                "created_at": "2026-01-01T00:00:00",
                "messages": [
                    {**base, "uid": f"m-{i}", "position": i, "role": ROLES[i % 2], **fields}
                    for i, fields in enumerate(messages)
                ],
            }
        ],
    }


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "chat.db"
    with Store.open(path) as store:
        conversation = store.create_conversation()
        store.add_user_turn(conversation.id, "mine")
    return path


@pytest.mark.parametrize(
    "fields",
    [
        {"text": ""},
        {"text": " \t\n\u3000"},
        {"corrected_text": ""},
        {"corrected_text": "  "},
        {"text": "x" * 1_000_001},
    ],
    ids=["empty", "whitespace", "empty correction", "blank correction", "too long"],
)
def test_an_archive_is_checked_with_the_stores_own_rules_for_text(db, tmp_path, fields):
    before = all_texts(db)
    archive = archive_of({}, {"text": "a reply", **fields})
    with Store.open(db) as store, pytest.raises(ArchiveError, match=r"messages\[1\]"):
        store.import_archive(archive)
    code, _, err = run_main("import", "--db", str(db), str(write(tmp_path / "a.json", archive)))
    assert code == 2 and "messages[1]" in one_line(err), err
    assert all_texts(db) == before and integrity(db) == "ok"
