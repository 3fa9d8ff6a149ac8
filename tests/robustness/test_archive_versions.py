"""A reply's model version survives export and import (issue 26, item 8): into a database
without a version of that name, the reply keeps the name and the archive's account of it, and
Details… shows them; revision 0006 adds the columns and is undone cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from PySide6.QtWidgets import QPlainTextEdit

from chatapp.store import GenerationInfo, Store
from chatapp.store.database import alembic_config
from tests.chatapp.gui.helpers import open_main_window
from tests.database_checks import older_app_database


def chat_made_by_a_finetuned_version(store: Store, model_dir: Path) -> tuple[int, int]:
    """A reply made by "ft-1", fine-tuned from "base" on 7 corrections: (conversation, reply)."""
    base = store.add_model_version("base", model_dir, is_base=True)
    tuned = store.add_model_version(
        "ft-1", model_dir / "ft-1", parent_id=base.id,
        data={"include": ["corrected"], "pairs": {"corrected": 7}},
    )  # fmt: skip
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "hello")
    reply = store.add_bot_reply(conversation.id, "hi there", GenerationInfo(tuned.id))
    return conversation.id, reply.id


def test_an_imported_reply_keeps_its_model_version_and_details_shows_it(
    qtbot, tmp_path: Path, tiny_model_dir: Path
):
    with Store.open(tmp_path / "source.db") as source:
        chat_made_by_a_finetuned_version(source, tmp_path / "models")
        archive = source.export_archive()
    with Store.open(tmp_path / "target.db") as target:
        target.import_archive(archive)
        conversation = target.list_conversations()[0].id
        reply = target.page_messages(conversation, 1, 1)[0]
        assert reply.model_version_id is None and reply.imported_version == "ft-1"
        assert reply.imported_provenance["lineage"] == ["base"]
        assert reply.imported_provenance["data"] == {"include": ["corrected"],
                                                     "pairs": {"corrected": 7}}  # fmt: skip
        # Exported again, it says the same as the archive it came from.
        again = target.export_archive()
        assert again["conversations"][0]["messages"][1]["model_version"] == "ft-1"
        assert again["model_versions"] == archive["model_versions"]
        window = open_main_window(qtbot, target, tiny_model_dir)
        details = window.show_details(reply)
        text = details.findChild(QPlainTextEdit, "detailsText").toPlainText()
        assert "Model version: ft-1 (imported: not in this database; fine-tuned from base)" in text
        details.close()
        window.close()


def test_an_imported_reply_whose_version_is_here_links_to_it(tmp_path: Path):
    with Store.open(tmp_path / "source.db") as source:
        chat_made_by_a_finetuned_version(source, tmp_path / "models")
        archive = source.export_archive()
    with Store.open(tmp_path / "target.db") as target:
        here = target.add_model_version("ft-1", tmp_path / "elsewhere")
        target.import_archive(archive)
        reply = target.page_messages(target.list_conversations()[0].id, 1, 1)[0]
        assert reply.model_version_id == here.id and reply.imported_version is None


GONE_VERSION = {
    "format": "seq2seq-chat-archive",
    "version": 2,
    "conversations": [
        {
            "uid": "c-2",
            "title": "imported",
            "created_at": "2026-01-03T00:00:00",
            "messages": [
                {
                    "uid": "m-2",
                    "position": 0,
                    "role": "user",
                    "text": "hey",
                    "created_at": "2026-01-03T00:00:00",
                    "chosen": True,
                },
                {
                    "uid": "m-3",
                    "position": 1,
                    "role": "bot",
                    "text": "yo",
                    "created_at": "2026-01-03T00:00:01",
                    "chosen": True,
                    "follows_uid": "m-2",
                    "model_version": "gone",
                },
            ],
        }
    ],
    "model_versions": [{"name": "gone", "created_at": None, "lineage": [], "data": None}],
}


def test_revision_0006_upgrades_and_downgrades_keeping_every_reply(tmp_path: Path):
    db = tmp_path / "chat.db"
    older_app_database(db, "0005", "Old chat", ("hello", "hi"))
    with Store.open(db) as store:  # upgraded in place
        assert store.history(1) == ["hello", "hi"]
        assert store.page_messages(1, 1, 1)[0].imported_version is None
        store.import_archive(GONE_VERSION)
    command.downgrade(alembic_config(db), "0005")
    with Store.open(db) as store:  # and upgraded again
        assert store.history(1) == ["hello", "hi"] and store.history(2) == ["hey", "yo"]
        assert store.page_messages(2, 1, 1)[0].imported_version is None  # dropped with 0006
