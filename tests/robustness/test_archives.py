"""Archives and corpora from elsewhere: each either imports or is refused with the project's
own error, and a refused one writes nothing (docs/RELIABILITY.md, "Archives and corpora")."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.gui.transfer import import_archive_file
from chatapp.store import ArchiveError, Store, read_archive
from engine.data import read_jsonl
from engine.errors import DataError
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
        {"text": ""},
        {"text": " \t\n\u3000"},
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
        import_archive_file(fast, path)
    code, _, err = run_main("import", "--db", str(store.path), str(path))
    assert code == 2 and "archive" in one_line(err), err
    assert all_texts(store.path) == before and integrity(store.path) == "ok"
