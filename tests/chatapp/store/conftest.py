"""Fixtures for the store tests: a fresh file database under tmp_path for every test."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatapp.store import ConversationRecord, Store
from tests.database_checks import integrity


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "conversations.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as opened:
        yield opened


@pytest.fixture
def chat(store: Store) -> Callable[..., ConversationRecord]:
    """`chat("hi", "hello", "how are you")`: a conversation of alternating user/bot turns."""

    def make(*turns: str, title: str | None = None) -> ConversationRecord:
        conversation = store.create_conversation(title)
        for index, text in enumerate(turns):
            if index % 2 == 0:
                store.add_user_turn(conversation.id, text)
            else:
                store.add_bot_reply(conversation.id, text)
        return store.get_conversation(conversation.id)

    return make


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def file_sha256() -> Callable[[Path], str]:
    return sha256


@pytest.fixture
def integrity_check() -> Callable[[Path], str]:
    return integrity
