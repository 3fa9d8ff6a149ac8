"""API conversations in the chat database (`serve --db`), and `main.py serve` as a process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp.store import Store
from tests.server.conftest import StartServer, client

GREEDY = {"strategy": "greedy"}
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_api_conversations_are_kept_with_db_and_marked(serve: StartServer, tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    api = client(serve(db_path=str(db)))
    turns = [{"role": "user", "content": "hello"}]
    first = api.chat.completions.create(model="x", messages=turns, extra_body=GREEDY)
    reply = first.choices[0].message.content
    turns += [{"role": "assistant", "content": reply}, {"role": "user", "content": "bye"}]
    api.chat.completions.create(model="x", messages=turns, extra_body=GREEDY)  # continues it
    # Turns this server did not answer (written by the client): a conversation of their own.
    api.chat.completions.create(
        model="x",
        messages=[{"role": "assistant", "content": "welcome!"},
                  {"role": "user", "content": "what is your name?"}],
        extra_body=GREEDY,
    )  # fmt: skip
    with Store.open(db) as store:
        conversations = {c.title: c for c in store.list_conversations()}
        assert set(conversations) == {"API · hello", "API · what is your name?"}
        kept = store.history(conversations["API · hello"].id)
        assert kept[:3] == ["hello", reply, "bye"] and len(kept) == 4
        other = store.history(conversations["API · what is your name?"].id)
        assert other[:2] == ["welcome!", "what is your name?"] and len(other) == 3
        bot_turn = store.last_messages(conversations["API · hello"].id, 1)[0]
        assert bot_turn.role == "bot" and bot_turn.decoding["strategy"] == "greedy"


def test_without_db_nothing_is_written(serve: StartServer, tmp_path: Path) -> None:
    api = client(serve())
    api.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a Python with torch and uvicorn: seconds
def test_the_serve_command_answers_until_terminated(tiny_model_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "api.db"
    process = subprocess.Popen(
        [sys.executable, "main.py", "serve", "--model", str(tiny_model_dir), "--port", "0",
         "--db", str(db), "--device", "cpu", "--api-key", "k"],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip
    try:
        line = process.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
        assert url, line
        import openai

        api = openai.OpenAI(base_url=url.group(0), api_key="k", max_retries=0, timeout=60)
        answer = api.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hello"}], extra_body=GREEDY
        )
        assert answer.choices[0].message.content == "hi there! how are you?"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    with Store.open(db) as store:
        assert [c.title for c in store.list_conversations()] == ["API · hello"]
