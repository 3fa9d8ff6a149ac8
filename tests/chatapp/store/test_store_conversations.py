"""Conversations: titles, pin / archive / rename / delete, and the sidebar listing."""

from __future__ import annotations

import dataclasses
import time

import pytest

from chatapp.store import DEFAULT_TITLE, NotFoundError


def test_a_new_conversation_takes_its_title_from_its_first_user_turn(store):
    conversation = store.create_conversation()
    assert conversation.title == DEFAULT_TITLE
    first = "Could you tell me   about\nthe history of lighthouses on the Atlantic coast of France?"
    store.add_user_turn(conversation.id, first)
    store.add_user_turn(conversation.id, "and something else")
    title = store.get_conversation(conversation.id).title
    assert title == "Could you tell me about the history of lighthouses on the…"
    assert len(title) <= 60


def test_a_title_without_spaces_is_cut_hard(store):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "灯塔" * 50)
    assert store.get_conversation(conversation.id).title == "灯塔" * 29 + "灯…"


def test_a_given_title_is_kept(store):
    conversation = store.create_conversation("  Trip   plans ")
    store.add_user_turn(conversation.id, "hello")
    assert store.get_conversation(conversation.id).title == "Trip plans"


def test_rename_pin_archive_and_delete(store, chat):
    conversation = chat("hello", "hi")
    assert store.rename_conversation(conversation.id, "Greetings").title == "Greetings"
    assert store.pin_conversation(conversation.id).pinned
    assert not store.pin_conversation(conversation.id, False).pinned
    assert store.archive_conversation(conversation.id).archived
    with pytest.raises(ValueError, match="empty"):
        store.rename_conversation(conversation.id, "   ")
    store.delete_conversation(conversation.id)
    with pytest.raises(NotFoundError):
        store.get_conversation(conversation.id)
    with pytest.raises(NotFoundError):
        store.delete_conversation(conversation.id)
    assert store.search("hello") == []  # its messages left the index too


def test_deleting_a_conversation_deletes_its_messages(store, chat, db_path):
    conversation = chat("one", "two", "three")
    kept = chat("four", "five")
    store.delete_conversation(conversation.id)
    assert store.history(kept.id) == ["four", "five"]
    with pytest.raises(NotFoundError):
        store.history(conversation.id)
    with store._db.read() as session:
        rows = session.connection().exec_driver_sql("SELECT count(*) FROM messages").scalar()
    assert rows == 2


def test_listing_puts_pinned_first_then_latest_activity(store, chat):
    old = chat("old", "reply")
    time.sleep(0.002)
    pinned = chat("pinned")
    time.sleep(0.002)
    new = chat("new", "reply")
    store.pin_conversation(pinned.id)
    time.sleep(0.002)
    store.add_user_turn(old.id, "old but just active")
    archived = chat("hidden")
    store.archive_conversation(archived.id)

    assert [c.id for c in store.list_conversations()] == [pinned.id, old.id, new.id]
    everything = store.list_conversations(include_archived=True)
    assert archived.id in [c.id for c in everything]


def test_listing_carries_the_count_and_a_preview_of_the_last_message(store, chat):
    conversation = chat("hello", "a  long\n\nreply " * 30)
    (listed,) = store.list_conversations()
    assert listed.message_count == 2
    assert listed.preview.startswith("a long reply a long reply")
    assert listed.preview.endswith("…") and len(listed.preview) <= 100
    assert store.create_conversation().id != conversation.id
    assert store.list_conversations()[0].preview == ""


def test_records_are_frozen(store):
    conversation = store.create_conversation()
    with pytest.raises(dataclasses.FrozenInstanceError):
        conversation.title = "changed"  # type: ignore[misc]
