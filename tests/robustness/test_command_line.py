"""The command line: odd bytes, bad paths and numbers out of range give one line, never a
traceback, and lose nothing (docs/RELIABILITY.md, "Command line")."""

from __future__ import annotations

import json
import subprocess
import sys

from chatapp.store import Store
from tests.robustness.helpers import REPO_ROOT, python_env


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
