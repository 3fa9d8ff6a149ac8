"""The latest teaching wins: corrections are ordered by when they were made (issue 26, item 7).

Correcting a newer reply with "Ada" and then an older reply to the same prompt with "Bob" must
leave "Bob" as the answer: the user taught it last.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chatapp.store import Store
from tests.chatapp.gui.helpers import send_and_wait
from tests.robustness.helpers import REPO_ROOT, python_env

PROMPT = "what is your name?"


def teach_twice(path: Path) -> None:
    """Two chats ask PROMPT; the newer reply is corrected first ("Ada"), the older one later."""
    with Store.open(path) as store:
        older, newer = store.create_conversation(), store.create_conversation()
        store.add_user_turn(older.id, PROMPT)
        old_reply = store.add_bot_reply(older.id, "i am a bot.")
        store.add_user_turn(newer.id, PROMPT)
        new_reply = store.add_bot_reply(newer.id, "i do not know.")
        store.correct(new_reply.id, "my name is ada.")
        store.correct(old_reply.id, "my name is bob.")


def test_the_store_lists_corrections_in_the_order_they_were_made(tmp_path):
    db = tmp_path / "chat.db"
    teach_twice(db)
    with Store.open(db) as store:
        corrections = store.corrections()
        assert [c.text for c in corrections] == ["my name is ada.", "my name is bob."]
        assert corrections[0].corrected_at < corrections[1].corrected_at
        # Correcting again moves a correction to the end: it is the newest teaching now.
        store.correct(corrections[0].message_id, "my name is ada, really.")
        assert store.corrections()[-1].text == "my name is ada, really."


def test_the_terminal_chat_answers_with_the_latest_correction(tiny_model_dir, tmp_path):
    db = tmp_path / "chat.db"
    teach_twice(db)
    done = subprocess.run(
        [sys.executable, "main.py", "chat", "--db", str(db), "--model", str(tiny_model_dir),
         "--json", "--preset", "precise", "--device", "cpu"],
        input=f"{PROMPT}\n".encode(), capture_output=True, cwd=REPO_ROOT, timeout=120,
        env=python_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout.decode().splitlines()[0])["reply"] == "my name is bob."


def test_an_archive_keeps_when_each_correction_was_made(tmp_path):
    db, other = tmp_path / "chat.db", tmp_path / "other.db"
    teach_twice(db)
    with Store.open(db) as store:
        archive = store.export_archive()
        made = [(c.text, c.corrected_at) for c in store.corrections()]
    with Store.open(other) as store:
        store.import_archive(json.loads(json.dumps(archive)))  # as written to a file
        assert [(c.text, c.corrected_at) for c in store.corrections()] == made


def test_the_window_answers_with_the_latest_correction(qtbot, window, store):
    older = send_and_wait(qtbot, window, PROMPT)
    window.new_conversation()
    newer = send_and_wait(qtbot, window, PROMPT)
    with qtbot.waitSignal(window.context.actions.changed):
        window.controller.correct(newer.id, "my name is ada.")
    with qtbot.waitSignal(window.context.actions.changed):
        window.controller.correct(older.id, "my name is bob.")
    window.new_conversation()
    assert send_and_wait(qtbot, window, PROMPT).text == "my name is bob."
