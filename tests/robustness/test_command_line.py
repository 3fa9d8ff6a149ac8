"""The command line: odd bytes, bad paths and numbers out of range give one line, never a
traceback, and lose nothing (docs/RELIABILITY.md, "Command line")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from chatapp.gui.app import AppOptions, run_app
from chatapp.store import Store, StoreError
from tests.robustness.helpers import REPO_ROOT, python_env
from tests.robustness.test_bad_files import one_line, run_main
from tests.robustness.test_store_safety import read_only_mount


def test_the_terminal_chat_keeps_every_line_around_bytes_that_are_not_utf8(
    tiny_model_dir, tmp_path
):
    db = tmp_path / "chat.db"
    # PYTHONIOENCODING=utf-8 gives stdin the strict decoder an ordinary UTF-8 locale
    # (en_US.UTF-8) gives it; under C/C.UTF-8 Python would be lenient by itself.
    done = subprocess.run(
        [sys.executable, "main.py", "chat", "--model", str(tiny_model_dir), "--db", str(db),
         "--json", "--device", "cpu", "--strategy", "greedy", "--max-length", "3"],
        input=b"hello\n\xff\xfe bad \xc3\n\xe2\x82\xac and \xef\xbf\xbd\nbye\n",
        capture_output=True, cwd=REPO_ROOT, timeout=120,
        env={**python_env(), "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"},
    )  # fmt: skip
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr
    replies = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert len(replies) == 4
    assert "3 undecodable character(s)" in stderr  # the U+FFFD typed as such is not counted
    with Store.open(db) as store:
        conversation = store.list_conversations()[0].id
        users = store.history(conversation)[0::2]
    assert users == ["hello", "\ufffd\ufffd bad \ufffd", "\u20ac and \ufffd", "bye"]


GREEDY = ("--strategy", "greedy")  # no note about the decoding before the error line


def bad_places(tmp_path: Path) -> dict[str, list[str]]:
    """Options naming a data folder or a database file that cannot be one."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    (tmp_path / "a-folder.db").mkdir()
    return {
        "data dir is a file": ["--data-dir", str(a_file)],
        "db under a file": ["--db", str(a_file / "chat.db")],
        "db is a folder": ["--db", str(tmp_path / "a-folder.db")],
        "db name too long": ["--db", str(tmp_path / ("x" * 300 + ".db"))],
    }


@pytest.mark.parametrize(
    "place", ["data dir is a file", "db under a file", "db is a folder", "db name too long"]
)
def test_a_bad_data_dir_or_db_path_is_one_line_and_exit_2(tiny_model_dir, tmp_path, place):
    options = bad_places(tmp_path)[place]
    archive = tmp_path / "archive.json"
    archive.write_text('{"format": "seq2seq-chat-archive", "version": 1, "conversations": []}')
    commands = [
        ["export", *options, "--format", "json"],
        ["import", *options, str(archive)],
        ["chat", *options, "--model", str(tiny_model_dir), "--conversation", "1", *GREEDY],
        ["finetune", *options, "--model", str(tiny_model_dir)],
    ]
    for command in commands:
        code, _, err = run_main(*command)
        assert code == 2, (command, err)
        assert "Traceback" not in err and str(tmp_path) in one_line(err), (command, err)


def test_the_app_shows_a_bad_data_dir_in_a_message_box(qapp, tmp_path, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    for place, options in bad_places(tmp_path).items():
        shown.clear()
        values = dict(zip(options[0::2], options[1::2], strict=True))
        app_options = AppOptions(db=values.get("--db"), data_dir=values.get("--data-dir"))
        assert run_app(app_options) == 2, place
        assert len(shown) == 1 and str(tmp_path) in shown[0], place


def test_a_database_folder_on_a_read_only_file_system_is_one_line(tmp_path):
    folder = tmp_path / "shelf"
    folder.mkdir()
    archive = tmp_path / "archive.json"
    archive.write_text('{"format": "seq2seq-chat-archive", "version": 1, "conversations": []}')
    for target in (folder / "new.db", folder / "sub" / "new.db"):
        done = read_only_mount(
            folder, sys.executable, "main.py", "import", "--db", str(target), str(archive)
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "Read-only file system" in one_line(done.stderr)


def test_a_corpus_that_is_not_a_regular_file_or_has_a_huge_line_is_refused(
    tiny_model_dir, tmp_path
):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    (tmp_path / "a-folder.jsonl").mkdir()
    huge = tmp_path / "huge.jsonl"
    huge.write_text(json.dumps({"context": ["hi"], "response": "x" * 10_000_001}) + "\n")
    cases = {
        str(fifo): "not a regular file",
        "/dev/zero": "not a regular file",
        str(tmp_path / "a-folder.jsonl"): "not a regular file",
        str(huge): ":1: a line longer than 10,000,000 bytes",
    }
    for corpus, words in cases.items():
        for command in (
            ["train", "--corpus", corpus, "--preset", "tiny", "--out", str(tmp_path / "m")],
            ["eval", "--model", str(tiny_model_dir), "--corpus", corpus, "--split", "test"],
        ):
            # A child with a deadline: a FIFO used to block train and eval for ever.
            done = subprocess.run(
                [sys.executable, "main.py", *command, "--device", "cpu"],
                capture_output=True, text=True, cwd=REPO_ROOT, env=python_env(), timeout=120,
            )  # fmt: skip
            assert done.returncode == 2, (command, done.stderr)
            assert words in one_line(done.stderr), (command, done.stderr)
    assert not (tmp_path / "m").exists()


TRAIN_OUT_OF_RANGE = [
    ("--seed", str(10**23)),
    ("--hidden-size", "1000000"),
    ("--num-layers", "100000"),
    ("--embedding-dim", "10000000"),
    ("--vocab-size", str(2**64)),
    ("--lr", "inf"),
    ("--lr", "nan"),
    ("--lr", "0"),
    ("--max-minutes", "nan"),
    ("--max-minutes", "-1"),
    ("--epochs", "0"),
    ("--batch-tokens", "-5"),
    ("--patience", "0"),
    ("--eval-every", "-1"),
    ("--label-smoothing", "inf"),
    ("--dropout", "nan"),
]


@pytest.mark.parametrize(("flag", "value"), TRAIN_OUT_OF_RANGE)
def test_a_train_number_out_of_range_is_one_line_naming_it(tmp_path, flag, value):
    out = tmp_path / "model"
    code, _, err = run_main(
        "train", "--corpus", "tests/fixtures/small_corpus.jsonl", "--preset", "tiny",
        "--epochs", "1", "--out", str(out), "--device", "cpu", flag, value,
    )  # fmt: skip
    assert code == 2, err
    assert one_line(err).startswith(f"seq2seq-chat: error: {flag} must be"), err
    assert not out.exists()


def test_a_conversation_number_beyond_64_bits_is_one_line(tiny_model_dir, tmp_path):
    db = tmp_path / "chat.db"
    Store.open(db).close()
    huge = str(2**63)
    code, _, err = run_main("chat", "--model", str(tiny_model_dir), "--db", str(db),
                            "--conversation", huge)  # fmt: skip
    assert code == 2 and "--conversation must be" in one_line(err), err
    code, _, err = run_main("export", "--db", str(db), "--format", "json", "--conversation", huge)
    assert code == 2 and "there is no conversation" in one_line(err), err
    with Store.open(db) as store, pytest.raises(StoreError, match="no conversation"):
        store.get_conversation(2**63)


def test_one_message_size_limit_for_every_way_in(tiny_model_dir, tmp_path):
    db = tmp_path / "chat.db"
    lines = [b"x" * 1_000_001, "é".encode() * 3_000_000, b"y" * 1_000_000, b"hello"]
    done = subprocess.run(
        [sys.executable, "main.py", "chat", "--model", str(tiny_model_dir), "--db", str(db),
         "--json", "--device", "cpu", "--strategy", "greedy", "--max-length", "3"],
        input=b"\n".join(lines) + b"\n", capture_output=True, cwd=REPO_ROOT, timeout=180,
        env=python_env(),
    )  # fmt: skip
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0 and "Traceback" not in stderr, stderr
    assert stderr.count("the message is too long (the limit is 1,000,000 characters)") == 2
    assert len(done.stdout.decode().splitlines()) == 2  # the two within the limit
    with Store.open(db) as store:
        conversation = store.list_conversations()[0].id
        assert [len(text) for text in store.history(conversation)[0::2]] == [1_000_000, 5]
        with pytest.raises(ValueError, match="too long"):
            store.add_user_turn(conversation, "z" * 1_000_001)
