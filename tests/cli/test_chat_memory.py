"""`main.py chat --db`: the corrections saved in the database answer at once (--no-memory: not)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatapp.store import Store
from tests.cli.test_cli import run_main

pytestmark = pytest.mark.slow  # each case starts a Python with torch

TAUGHT = "my name is ada, and i keep a lighthouse."


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "conversations.db"
    with Store.open(path) as store:
        conversation = store.create_conversation()
        store.add_user_turn(conversation.id, "what is your name?")
        store.correct(store.add_bot_reply(conversation.id, "i am a bot.").id, TAUGHT)
    return path


def chat(database: Path, model: Path, *extra: str) -> list[dict]:
    done = run_main(
        "chat", "--db", str(database), "--model", str(model), "--json", "--preset", "precise",
        "--device", "cpu", *extra, stdin="What is your name?\nhello\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_terminal_chat_answers_from_the_saved_corrections(database, tiny_model_dir):
    first, second = chat(database, tiny_model_dir)
    assert first["reply"] == TAUGHT and first["memory"]["exact"] and first["memory"]["chosen"]
    assert second["reply"] != TAUGHT and second["memory"] is None
    with Store.open(database) as store:
        conversation = store.list_conversations()[0]  # the newest: this chat
        assert store.history(conversation.id)[:2] == ["What is your name?", TAUGHT]


def test_no_memory_leaves_the_model_to_answer(database, tiny_model_dir):
    first, _ = chat(database, tiny_model_dir, "--no-memory")
    assert first["reply"] != TAUGHT and first["memory"] is None


def test_a_reply_liked_in_the_database_answers_and_says_so(tmp_path, tiny_model_dir):
    path = tmp_path / "liked.db"
    with Store.open(path) as store:
        conversation = store.create_conversation()
        store.add_user_turn(conversation.id, "what is your name?")
        liked = store.add_bot_reply(conversation.id, "they call me max.")
        store.rate(liked.id, 1)
    first, second = chat(path, tiny_model_dir)
    assert (first["reply"], first["source"]) == ("they call me max.", "liked")
    assert first["memory"]["source_id"] == liked.id
    assert f"conversation {conversation.id}" in first["origin"]
    assert second["reply"] != "they call me max." and second["source"] != "liked"
