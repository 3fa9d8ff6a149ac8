"""Archives and corpora from elsewhere: each either imports or is refused with the project's
own error, and a refused one writes nothing (docs/RELIABILITY.md, "Archives and corpora")."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.gui.transfer import import_archive_file, import_in_background
from chatapp.store import ArchiveError, DiskFullError, Store, read_archive, repository
from engine.data import read_jsonl
from engine.errors import DataError
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS
from tests.database_checks import integrity
from tests.robustness.helpers import all_texts
from tests.robustness.test_bad_files import one_line, run_main

ROLES = ("user", "bot")


def archive_of(*messages: dict) -> dict:
    """A one-conversation archive; each message given as the fields that differ from a turn."""
    base = {"position": 0, "role": "user", "text": "hi", "created_at": "2026-01-01T00:00:00",
            "chosen": True}  # fmt: skip
    return {
        "format": "seq2seq-chat-archive",
        "version": 1,
        "conversations": [
            {
                "uid": "c-1",
                "title": "from elsewhere",
                "created_at": "2026-01-01T00:00:00",
                "messages": [
                    {**base, "uid": f"m-{i}", "position": i, "role": ROLES[i % 2], **fields}
                    for i, fields in enumerate(messages)
                ],
            }
        ],
    }


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "chat.db"
    with Store.open(path) as store:
        conversation = store.create_conversation()
        store.add_user_turn(conversation.id, "mine")
    return path


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "", "role": "user"},  # a blank reply an earlier version stored imports:
        {"text": " \t\n\u3000", "role": "user"},  # test_empty_replies.py
        {"corrected_text": ""},
        {"corrected_text": "  "},
        {"text": "x" * 1_000_001},
    ],
    ids=["empty", "whitespace", "empty correction", "blank correction", "too long"],
)
def test_an_archive_is_checked_with_the_stores_own_rules_for_text(db, tmp_path, fields):
    before = all_texts(db)
    archive = archive_of({}, {"text": "a reply", **fields})
    with Store.open(db) as store, pytest.raises(ArchiveError, match=r"messages\[1\]"):
        store.import_archive(archive)
    code, _, err = run_main("import", "--db", str(db), str(write(tmp_path / "a.json", archive)))
    assert code == 2 and "messages[1]" in one_line(err), err
    assert all_texts(db) == before and integrity(db) == "ok"


# Property-based: whatever the input, an import either happens or is refused with ArchiveError,
# and a corpus is read or refused with DataError (never another exception).

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
HOSTILE_VALUES = st.sampled_from(
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01",
        10**5000,
        -(2**63) - 1,
        2**63,
        2**31,
        1e308,
        float("inf"),
        float("nan"),
        "\ud800",
        "",
        " \u3000",
        {"ttft_ms": "fast"},
        {"tokens": [1]},
        functools.reduce(lambda inner, _: [inner], range(10_000), []),
    ]
)
MESSAGE_KEYS = ["uid", "position", "role", "text", "created_at", "parent_uid", "chosen",
                "rating", "corrected_text", "stopped", "model_version", "decoding", "seed",
                "timings", "nbest"]  # fmt: skip
CONVERSATION_KEYS = ["uid", "title", "created_at", "updated_at", "pinned", "archived"]
_fresh = itertools.count()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> Iterator[Store]:
    store = Store.open(tmp_path_factory.mktemp("hypothesis") / "chat.db")
    yield store
    store.close()


def good_archive() -> dict:
    """A valid two-turn archive under a uid never used before (so each import writes)."""
    n = next(_fresh)
    archive = archive_of({}, {"text": "hello", "timings": {"ttft_ms": 3.5, "tokens": 2}})
    conversation = archive["conversations"][0]
    conversation["uid"] = f"c-{n}"
    for message in conversation["messages"]:
        message["uid"] = f"{message['uid']}-{n}"
    return archive


def import_or_refuse(store: Store, data: object) -> None:
    with contextlib.suppress(ArchiveError):
        store.import_archive(data)


@settings(max_examples=150, deadline=None)
@given(
    where=st.sampled_from(["message", "conversation"]),
    key=st.sampled_from(sorted(set(MESSAGE_KEYS + CONVERSATION_KEYS))),
    value=JSON_VALUES | HOSTILE_VALUES,
)
def test_any_value_in_any_field_imports_or_is_refused(shared_store, where, key, value):
    archive = good_archive()
    conversation = archive["conversations"][0]
    (conversation["messages"][1] if where == "message" else conversation)[key] = value
    import_or_refuse(shared_store, archive)
    for message in shared_store.export_archive()["conversations"][-1]["messages"]:
        timings = message["timings"] or {}  # what the Details… dialog formats as numbers
        assert all(v is None or isinstance(v, (int, float)) for v in timings.values())


@settings(max_examples=150, deadline=None)
@given(content=st.binary(max_size=200) | JSON_VALUES.map(json.dumps) | st.text(max_size=200))
def test_any_archive_file_imports_or_is_refused(shared_store, tmp_path_factory, content):
    path = tmp_path_factory.getbasetemp() / "archive.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "replace"))
    try:
        data = read_archive(path)
    except ArchiveError:
        return
    import_or_refuse(shared_store, data)


CORPUS_LINES = st.lists(
    JSON_VALUES.map(json.dumps)
    | st.fixed_dictionaries({"context": JSON_VALUES, "response": JSON_VALUES}).map(json.dumps)
    | st.text(max_size=50)
    | st.sampled_from(["[" * 100_000, "1" * 5000, '{"context": [], "response": "\\ud800"}']),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(lines=CORPUS_LINES)
def test_any_corpus_file_is_read_or_refused_with_a_data_error(tmp_path_factory, lines):
    path = tmp_path_factory.getbasetemp() / "corpus.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    with contextlib.suppress(DataError):
        read_jsonl(path)


HOSTILE_ARCHIVES = {
    "deeply nested": "[" * 100_000 + "]" * 100_000,
    "a 5,000-digit integer": '{"format": "seq2seq-chat-archive", "version": 1' + "0" * 5000 + "}",
    "a date out of range in UTC": "created_at=0001-01-01T00:00:00+05:00",
    "timings of the wrong type": "timings=fast",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_ARCHIVES))
def test_hostile_archives_are_refused_in_the_window_and_on_the_command_line(
    qtbot, fast, store, tmp_path, kind
):
    text = HOSTILE_ARCHIVES[kind]
    if "=" in text:  # a field of an otherwise good archive
        key, value = text.split("=")
        archive = good_archive()
        archive["conversations"][0]["messages"][1][key] = (
            {"ttft_ms": value} if key == "timings" else value
        )
        text = json.dumps(archive)
    path = tmp_path / "archive.json"
    path.write_text(text, encoding="utf-8")
    before = all_texts(store.path)
    with pytest.raises(ArchiveError):
        import_archive_file(fast.store, path)
    code, _, err = run_main("import", "--db", str(store.path), str(path))
    assert code == 2 and "archive" in one_line(err), err
    assert all_texts(store.path) == before and integrity(store.path) == "ok"


# Large imports --------------------------------------------------------------------------------


def many_conversations(count: int) -> dict:
    """An archive of `count` two-turn conversations."""
    archive = archive_of({}, {"text": "hello"})
    template = archive["conversations"][0]
    archive["conversations"] = [
        {**template, "uid": f"big-{n}",
         "messages": [{**m, "uid": f"big-{n}-{m['uid']}"} for m in template["messages"]]}
        for n in range(count)
    ]  # fmt: skip
    return archive


def complete_conversations(path: Path) -> dict[str, int]:
    """uid -> number of messages, for every conversation in the database."""
    connection = sqlite3.connect(path)
    try:
        return dict(
            connection.execute(
                "SELECT c.uid, count(m.id) FROM conversations c "
                "LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id"
            ).fetchall()
        )
    finally:
        connection.close()


def test_a_large_import_commits_whole_conversations_in_batches_with_progress(tmp_path, monkeypatch):
    monkeypatch.setattr(repository, "IMPORT_BATCH_MESSAGES", 50)  # 25 conversations a batch
    db = tmp_path / "chat.db"
    progress: list[tuple[int, int]] = []

    def between_batches(done: int, total: int) -> None:
        progress.append((done, total))
        other = sqlite3.connect(db, timeout=0)  # another writer gets in at once
        other.execute("BEGIN IMMEDIATE")
        other.rollback()
        other.close()

    with Store.open(db) as store:
        summary = store.import_archive(many_conversations(100), on_progress=between_batches)
    assert progress == [(25, 100), (50, 100), (75, 100), (100, 100)]
    assert (summary.conversations_added, summary.messages_added) == (100, 200)

    # A batch that fails (a full disk) keeps the whole conversations before it, and says so.
    calls = []
    real = repository.restore_conversations

    def full_disk_on_the_third(session, batch):
        calls.append(1)
        if len(calls) == 3:
            raise DiskFullError("disk is full: could not save")
        return real(session, batch)

    monkeypatch.setattr(repository, "restore_conversations", full_disk_on_the_third)
    db2 = tmp_path / "other.db"
    with Store.open(db2) as store, pytest.raises(DiskFullError, match="50 of 100 new"):
        store.import_archive(many_conversations(100))
    assert sorted(complete_conversations(db2).values()) == [2] * 50
    monkeypatch.setattr(repository, "restore_conversations", real)
    with Store.open(db2) as store:
        again = store.import_archive(many_conversations(100))
    assert (again.conversations_added, again.conversations_skipped) == (50, 50)
    assert integrity(db2) == "ok"

    path = write(tmp_path / "big.json", many_conversations(60))
    code, out, err = run_main("import", "--db", str(tmp_path / "cli.db"), str(path))
    assert code == 0 and "imported 25 of 60 new conversations" in err, err
    assert "imported 60 conversations" in out


def test_the_window_imports_in_the_background_with_progress(qtbot, fast, store, tmp_path,
                                                             monkeypatch):  # fmt: skip
    monkeypatch.setattr(repository, "IMPORT_BATCH_MESSAGES", 50)
    threads: list[threading.Thread] = []
    real_import = store.import_archive

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return real_import(*args, **kwargs)

    monkeypatch.setattr(store, "import_archive", recording)
    path = write(tmp_path / "big.json", many_conversations(100))
    progress: list[tuple[int, int]] = []
    job = import_in_background(fast.context, fast, path)
    job.progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(job.succeeded, timeout=REPLY_TIMEOUT_MS):
        pass
    assert threads and threading.main_thread() not in threads
    assert progress[-1] == (100, 100)
    assert "Imported 100 conversations" in fast.banner.text()
    assert fast.conversations.rowCount() >= 100
