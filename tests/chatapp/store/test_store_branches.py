"""Branches: an edited user turn keeps the old turn and each keeps its own continuation."""

from __future__ import annotations

import sqlite3

from alembic import command

from chatapp.store import Store
from chatapp.store.database import alembic_config


def _texts(store: Store, conversation_id: int) -> list[str]:
    return store.history(conversation_id)


def test_each_branch_keeps_its_own_continuation(store, chat):
    conversation = chat("hi", "hello", "how are you", "fine", "bye", "see you")
    second = store.page_messages(conversation.id, 2, 1)[0]
    edited = store.edit_user_turn(second.id, "what is your name")
    store.add_bot_reply(conversation.id, "I am a bot")
    store.add_user_turn(conversation.id, "nice")
    assert _texts(store, conversation.id) == [
        "hi", "hello", "what is your name", "I am a bot", "nice"
    ]  # fmt: skip
    assert store.message_count(conversation.id) == 5

    store.choose_alternative(second.id)  # back to branch 1/2
    assert _texts(store, conversation.id) == [
        "hi", "hello", "how are you", "fine", "bye", "see you"
    ]  # fmt: skip
    first, again = store.alternatives(second.id)
    assert (first.id, first.chosen, again.id, again.chosen) == (second.id, True, edited.id, False)

    store.choose_alternative(edited.id)  # and forth to 2/2
    assert _texts(store, conversation.id)[2:] == ["what is your name", "I am a bot", "nice"]


def test_bot_alternatives_are_counted_per_branch_and_keep_what_follows(store, chat):
    conversation = chat("hi", "hello", "how are you", "fine", "and you", "good")
    reply = store.page_messages(conversation.id, 3, 1)[0]
    again = store.add_alternative(reply.id, "great")
    assert (again.alternative_index, again.alternative_count) == (1, 2)
    store.choose_alternative(reply.id)
    assert _texts(store, conversation.id) == [
        "hi", "hello", "how are you", "fine", "and you", "good"
    ]  # fmt: skip

    turn = store.page_messages(conversation.id, 2, 1)[0]
    store.edit_user_turn(turn.id, "how old are you")
    answer = store.add_bot_reply(conversation.id, "two")
    # The new branch's reply is alone at its place: the other branch's two do not count.
    assert (answer.alternative_index, answer.alternative_count) == (0, 1)


def test_a_longer_branch_off_the_path_does_not_move_new_turns(store, chat):
    conversation = chat("a", "b", "c", "d", "e", "f")
    first = store.page_messages(conversation.id, 0, 1)[0]
    store.edit_user_turn(first.id, "A")
    assert store.add_bot_reply(conversation.id, "B").position == 1
    assert store.add_user_turn(conversation.id, "C").position == 2
    assert _texts(store, conversation.id) == ["A", "B", "C"]


def test_export_and_import_carry_the_tree(store, chat, tmp_path):
    conversation = chat("hi", "hello", "how are you", "fine")
    turn = store.page_messages(conversation.id, 2, 1)[0]
    store.edit_user_turn(turn.id, "who are you")
    store.add_bot_reply(conversation.id, "a bot")
    archive = store.export_archive(conversation.id)

    with Store.open(tmp_path / "other.db") as other:
        other.import_archive(archive)
        (copy,) = other.list_conversations()
        assert _texts(other, copy.id) == ["hi", "hello", "who are you", "a bot"]
        edited = other.page_messages(copy.id, 2, 1)[0]
        assert (edited.alternative_index, edited.alternative_count) == (1, 2)
        original = other.alternatives(edited.id)[0]
        other.choose_alternative(original.id)
        assert _texts(other, copy.id) == ["hi", "hello", "how are you", "fine"]


def test_a_version_1_archive_imports_as_one_line(store, chat, tmp_path):
    conversation = chat("hi", "hello", "how are you", "fine")
    archive = store.export_archive(conversation.id)
    archive["version"] = 1
    for message in archive["conversations"][0]["messages"]:
        del message["follows_uid"]
    with Store.open(tmp_path / "other.db") as other:
        other.import_archive(archive)
        (copy,) = other.list_conversations()
        turn = other.page_messages(copy.id, 2, 1)[0]
        other.edit_user_turn(turn.id, "who are you")
        other.choose_alternative(turn.id)
        assert _texts(other, copy.id) == ["hi", "hello", "how are you", "fine"]


def test_a_0003_database_opens_with_its_turns_in_one_line(db_path, chat, store):
    conversation = chat("hi", "hello", "how are you", "fine")
    reply = store.page_messages(conversation.id, 1, 1)[0]
    store.add_alternative(reply.id, "hey")
    store.close()
    command.downgrade(alembic_config(db_path), "0003")
    connection = sqlite3.connect(db_path)
    assert "follows_id" not in [row[1] for row in connection.execute("PRAGMA table_info(messages)")]
    connection.close()

    with Store.open(db_path) as reopened:
        assert _texts(reopened, conversation.id) == ["hi", "hey", "how are you", "fine"]
        reopened.choose_alternative(reply.id)  # the older reply keeps what followed it
        assert _texts(reopened, conversation.id) == ["hi", "hello", "how are you", "fine"]
        turn = reopened.page_messages(conversation.id, 2, 1)[0]
        reopened.edit_user_turn(turn.id, "and you")
        reopened.choose_alternative(turn.id)
        assert _texts(reopened, conversation.id) == ["hi", "hello", "how are you", "fine"]


def test_training_pairs_off_the_path_keep_their_own_branch_s_context(store, chat):
    conversation = chat("hi", "hello", "how are you", "fine")
    fine = store.page_messages(conversation.id, 3, 1)[0]
    store.rate(fine.id, 1)
    store.correct(fine.id, "fine, thanks")
    turn = store.page_messages(conversation.id, 2, 1)[0]
    store.edit_user_turn(turn.id, "who are you")
    reply = store.add_bot_reply(conversation.id, "a bot")
    store.rate(reply.id, 1)
    pairs = {p.response: p.context for p in store.training_pairs(("corrected", "liked"))}
    assert pairs == {
        "fine, thanks": ["hi", "hello", "how are you"],  # the old branch's own turn
        "a bot": ["hi", "hello", "who are you"],
    }
    (correction,) = store.corrections()
    assert correction.prompt == "how are you"
    assert store.training_pair_counts()["corrected"] == 1
