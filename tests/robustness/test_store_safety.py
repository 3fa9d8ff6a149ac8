"""The store under several processes, in odd places and on shared machines: one schema and one
model version per folder, read-only opening, private files (docs/RELIABILITY.md, "Store")."""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command

from chatapp.paths import models_dir, resolve_db_path
from chatapp.store import Store, StoreError, make_backup
from chatapp.store.database import alembic_config
from tests.database_checks import change_behind_the_app, integrity, older_app_database
from tests.robustness.helpers import REPO_ROOT, python_env, spawn
from tests.robustness.test_bad_files import run_main

OPEN_AT_ONCE = """
import sys
from chatapp.store.versions import ensure_model_version
from chatapp.paths import models_dir, resolve_db_path
from chatapp.store import Store, StoreError, make_backup

print("ready", flush=True)
sys.stdin.readline()
with Store.open(sys.argv[1]) as store:
    ensure_model_version(store, sys.argv[2])
print("ok", flush=True)
"""


def test_processes_opening_a_new_database_at_once_make_one_schema_and_one_version(
    tiny_model_dir, tmp_path
):
    db = tmp_path / "new.db"
    children = [spawn(OPEN_AT_ONCE, str(db), str(tiny_model_dir)) for _ in range(8)]
    try:
        for child in children:
            assert child.stdout and child.stdout.readline().strip() == "ready"
        for child in children:  # as close to together as the parent can make it
            assert child.stdin
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0 and out.strip().endswith("ok"), err
    assert integrity(db) == "ok"
    connection = sqlite3.connect(db)
    try:
        versions = connection.execute("SELECT name, directory FROM model_versions").fetchall()
    finally:
        connection.close()
    assert versions == [(tiny_model_dir.name, str(tiny_model_dir.resolve()))]


def test_duplicate_versions_of_one_folder_are_folded_into_one_by_the_upgrade(tmp_path):
    db = tmp_path / "old.db"
    command.upgrade(alembic_config(db), "0002")  # what the race left behind
    connection = sqlite3.connect(db)
    with connection:
        connection.executescript(
            """
            INSERT INTO model_versions (id, name, directory, created_at, active, is_base) VALUES
                (1, 'base', '/m/base', '2026-01-01', 0, 1),
                (2, 'base-2', '/m/base', '2026-01-01', 1, 0),
                (3, 'tuned', '/m/tuned', '2026-01-02', 0, 0);
            UPDATE model_versions SET parent_id = 2 WHERE id = 3;
            INSERT INTO conversations (id, uid, title, created_at, updated_at)
                VALUES (1, 'u1', 't', '2026-01-01', '2026-01-01');
            INSERT INTO messages (id, uid, conversation_id, role, text, created_at, position,
                                  model_version_id)
                VALUES (1, 'm1', 1, 'user', 'hi', '2026-01-01', 0, NULL),
                       (2, 'm2', 1, 'bot', 'hello', '2026-01-01', 1, 2);
            """
        )
    connection.close()
    with Store.open(db) as store:
        versions = store.list_model_versions()
        assert [(v.id, v.name, v.active, v.is_base, v.parent_id) for v in versions] == [
            (1, "base", True, True, None),
            (3, "tuned", False, False, 1),
        ]
        assert store.get_message(2).model_version_id == 1
        assert store.add_model_version("again", "/m/base").id == 1  # insert-or-get
    assert integrity(db) == "ok"


def read_only_mount(folder: Path, *command: str) -> subprocess.CompletedProcess:
    """Run `command` with `folder` mounted read-only over itself (a private mount namespace)."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare to make a read-only mount")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(folder), *command],
        capture_output=True, text=True, cwd=REPO_ROOT, env=python_env(), timeout=120,
    )  # fmt: skip
    if "mount" in done.stderr and done.returncode != 0 and "main.py" not in done.stderr:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
    return done


def test_export_reads_a_database_in_a_read_only_place_and_writes_nothing_beside_it(tmp_path):
    folder = tmp_path / "shelf"
    db = folder / "chat.db"
    folder.mkdir()
    with Store.open(db) as store:
        store.add_user_turn(store.create_conversation().id, "kept on a read-only shelf")
    assert sorted(path.name for path in folder.iterdir()) == ["chat.db"]  # closed cleanly

    done = read_only_mount(
        folder, sys.executable, "main.py", "export", "--db", str(db), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    assert "kept on a read-only shelf" in done.stdout

    before = db.read_bytes()
    for format_ in ("json", "markdown", "jsonl"):
        code, _, err = run_main("export", "--db", str(db), "--format", format_)
        assert code == 0, err
    assert not (folder / "backups").exists(), "an export made a backup"
    assert db.read_bytes() == before


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_chats_backups_and_model_versions_are_private_to_their_owner(tmp_path):
    old_umask = os.umask(0o022)  # the usual default: files 0644, folders 0755
    try:
        data_dir = tmp_path / "data"
        db = resolve_db_path(None, data_dir)
        with Store.open(db) as store:
            store.add_user_turn(store.create_conversation().id, "my secret")
            backup = make_backup(db, reason="test")
            assert {p.name for p in data_dir.iterdir()} >= {db.name, f"{db.name}-wal"}
            private_files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), backup]
            assert {str(p): oct(mode(p)) for p in private_files} == {
                str(p): oct(0o600) for p in private_files
            }
        other_db = resolve_db_path(str(tmp_path / "elsewhere" / "chat.db"), None)
        Store.open(other_db).close()
        versions = models_dir(data_dir)
        folders = [data_dir, backup.parent, versions, other_db.parent]
        assert {str(p): oct(mode(p)) for p in folders} == {str(p): oct(0o700) for p in folders}
        assert mode(other_db) == 0o600
    finally:
        os.umask(old_umask)


# Smaller defects (issue 17, item 17) ------------------------------------------------------------


def test_markdown_export_writes_no_terminal_control_sequences(tmp_path):
    db = tmp_path / "chat.db"
    hostile = "\x1bc reset \x1bP1;2|dcs\x1b\\ \x9b31m red\x9b0m \x07 bell \x7f del \x00 nul"
    with Store.open(db) as store:
        conversation = store.create_conversation(title="\x1b]0;title\x07")
        store.add_user_turn(conversation.id, hostile)
    out = tmp_path / "chat.md"
    code, _, err = run_main("export", "--db", str(db), "--format", "markdown", "--out", str(out))
    assert code == 0, err
    exported = out.read_text(encoding="utf-8")
    assert re.findall("[\x00-\x08\x0b-\x1f\x7f-\x9f]", exported) == []
    assert "&#x1b;c reset" in exported and "&#x9b;31m red" in exported


def test_a_backup_that_fails_leaves_no_partial_file(tmp_path, monkeypatch):
    db = tmp_path / "chat.db"
    with Store.open(db) as store:
        store.add_user_turn(store.create_conversation().id, "hello")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    for _ in range(3):  # three launches on a near-full disk
        with pytest.raises(OSError):
            make_backup(db)
        Store.open(db).close()  # the daily backup fails; opening goes on
    assert [path.name for path in (tmp_path / "backups").iterdir()] == []


def test_export_of_a_database_in_a_missing_folder_creates_nothing(tmp_path):
    db = tmp_path / "missing" / "chat.db"
    code, _, err = run_main("export", "--db", str(db), "--format", "json")
    assert code == 2 and "there is no database" in err
    assert not db.parent.exists()


def test_an_empty_schema_version_is_a_clear_error_and_the_file_is_left_alone(tmp_path):
    db = tmp_path / "chat.db"
    with Store.open(db) as store:
        store.add_user_turn(store.create_conversation().id, "hello")
    change_behind_the_app(db, "DELETE FROM alembic_version")
    before = db.read_bytes()
    with pytest.raises(StoreError, match="lost its schema version"):
        Store.open(db)
    code, _, err = run_main("export", "--db", str(db), "--format", "json")
    assert code == 2 and "lost its schema version" in err
    assert db.read_bytes() == before


def test_export_of_an_older_database_upgrades_it_first(tmp_path):
    db = tmp_path / "old.db"
    older_app_database(db, "0002", "from an older app")
    code, out, err = run_main("export", "--db", str(db), "--format", "json")
    assert code == 0, err
    assert "from an older app" in out
