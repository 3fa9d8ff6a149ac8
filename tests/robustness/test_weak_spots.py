"""Weak spots closed (issue 26, item 10): a terminal chat that sends nothing stores nothing; a
fine-tune killed outright shows as interrupted as soon as its lock is free, and one that still
holds the lock is left alone."""

from __future__ import annotations

import fcntl
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp.finetune.guard import LOCK_FILE
from chatapp.gui.app import AppOptions, open_store
from chatapp.store import Store
from tests.chatapp.finetune.conftest import finetune_argv, seed_corrections
from tests.chatapp.gui.helpers import open_main_window
from tests.robustness.helpers import REPO_ROOT, python_env


@pytest.mark.parametrize("stdin", [b"", b"\n  \n"], ids=["/dev/null", "blank lines"])
def test_a_terminal_chat_that_sends_nothing_stores_no_conversation(
    tiny_model_dir: Path, tmp_path: Path, stdin: bytes
):
    db = tmp_path / "chat.db"
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "main.py", "chat", "--model", str(tiny_model_dir), "--db", str(db),
             "--device", "cpu", "--strategy", "greedy", "--max-length", "3"],
            input=stdin, capture_output=True, cwd=REPO_ROOT, timeout=120, env=python_env(),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    with Store.open(db) as store:
        assert store.list_conversations() == []
    done = subprocess.run(
        [sys.executable, "main.py", "chat", "--model", str(tiny_model_dir), "--db", str(db),
         "--device", "cpu", "--strategy", "greedy", "--max-length", "3"],
        input=b"hello\n", capture_output=True, cwd=REPO_ROOT, timeout=120, env=python_env(),
    )  # fmt: skip
    with Store.open(db) as store:
        (conversation,) = store.list_conversations()
        assert store.history(conversation.id)[0] == "hello"


def kill_a_finetune_mid_training(data_dir: Path, model: Path) -> None:
    argv = [sys.executable, str(REPO_ROOT / "main.py"),
            *finetune_argv(data_dir, model, "--epochs", "500")]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if json.loads(line)["event"] == "step":
                break
        else:
            raise AssertionError(process.stderr.read()[-2000:])
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)


def test_a_killed_finetune_shows_as_interrupted_once_its_lock_is_free(
    qtbot, tmp_path: Path, tiny_model_dir: Path
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with Store.open(data_dir / "conversations.db") as store:
        seed_corrections(store)
    kill_a_finetune_mid_training(data_dir, tiny_model_dir)
    with Store.open(data_dir / "conversations.db") as store:
        assert [run.status for run in store.list_finetune_runs()] == ["running"]
        # The app is already open: showing the Fine-tune dialog tells it.
        window = open_main_window(qtbot, store, tiny_model_dir, data_dir)
        window.menus.finetune_action.trigger()
        qtbot.waitUntil(lambda: store.list_finetune_runs()[0].status == "failed")
        assert store.list_finetune_runs()[0].log.endswith(
            "Interrupted: the fine-tune process ended without reporting (killed or crashed)."
        )
        window.close()


def test_a_finetune_that_holds_its_lock_is_not_marked_interrupted(tmp_path: Path):
    """The app opening while `main.py finetune` runs from a terminal leaves that run alone."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with Store.open(data_dir / "conversations.db") as store:
        run = store.start_finetune_run({"corrected": 5})
    with (data_dir / LOCK_FILE).open("a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running fine-tune does
        options = AppOptions(db=str(data_dir / "conversations.db"), data_dir=str(data_dir))
        with open_store(options) as store:
            assert store.list_finetune_runs()[0].status == "running"
    with open_store(options) as store:  # the lock is free: it was interrupted
        (after,) = store.list_finetune_runs()
        assert after.id == run.id and after.status == "failed"
