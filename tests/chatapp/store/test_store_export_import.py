"""The `export` and `import` commands, run through their own argument parsers."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from chatapp.commands import export_import as export_import_command
from chatapp.commands import run_command
from chatapp.commands.common import CommandError
from chatapp.store import Candidate, GenerationInfo, ReplyTimings, Store, StoreError

INJECTION = (
    "# Heading\n"
    "<script>alert('x')</script>\n"
    "    indented code\n"
    "- item\n"
    "1. numbered\n"
    "> quoted\n"
    "```\nfence\n```\n"
    "[link](http://evil.example) ![img](x.png) | a | table |\n"
    "---\n"
    "*bold* _em_ ~~strike~~ &amp; \\escaped"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seq2seq-chat")
    export_import_command.register(parser.add_subparsers(dest="command"))
    return parser


def _run(*argv: str) -> int:
    parser = _parser()
    args = parser.parse_args(list(argv))
    return args.handler(args)


@pytest.fixture
def seeded(db_path):
    """Two conversations: one with a regenerated, rated and corrected reply, and an archived one."""
    with Store.open(db_path) as store:
        version = store.add_model_version("base", "/models/base", is_base=True, activate=True)
        first = store.create_conversation()
        store.add_user_turn(first.id, "hello 👋")
        old = store.add_bot_reply(
            first.id, "hi", GenerationInfo(model_version_id=version.id, seed=3)
        )
        store.add_alternative(
            old.id,
            "hello there",
            GenerationInfo(
                decoding={"strategy": "sample", "temperature": 0.8},
                timings=ReplyTimings(ttft_ms=4.0, total_ms=9.0, tokens=2, tokens_per_s=222.2),
                nbest=(Candidate("hello there", -0.3),),
                stopped=True,
            ),
        )
        store.rate(old.id, -1)
        store.correct(old.id, "Hello! What can I do?")
        store.add_user_turn(first.id, "tell me a joke")
        store.add_bot_reply(first.id, "no")
        second = store.create_conversation("Injection")
        store.add_user_turn(second.id, INJECTION)
        store.add_bot_reply(second.id, "ok\x00 then")
        store.archive_conversation(second.id)
        return first.id, second.id


def _archive_without_time(store: Store) -> dict:
    archive = store.export_archive()
    archive.pop("exported_at")
    for version in archive["model_versions"]:  # each database registered its own "base"
        version.pop("created_at")
    return archive


def test_jsonl_is_the_training_format_along_the_visible_path(db_path, seeded, capsys):
    first, _second = seeded
    assert _run("export", "--db", str(db_path), "--format", "jsonl") == 0
    lines = capsys.readouterr().out.splitlines()
    examples = [json.loads(line) for line in lines]
    for example in examples:
        assert isinstance(example["context"], list)
        assert all(isinstance(turn, str) for turn in example["context"])
        assert isinstance(example["response"], str)
    with Store.open(db_path) as store:
        uid = store.get_conversation(first).uid
    assert examples[:2] == [
        {"context": ["hello 👋"], "response": "hello there", "conversation": uid},
        {
            "context": ["hello 👋", "hello there", "tell me a joke"],
            "response": "no",
            "conversation": uid,
        },
    ]
    assert examples[2]["response"] == "ok\x00 then" and len(examples) == 3

    _run("export", "--db", str(db_path), "--format", "jsonl", "--max-context", "1")
    assert [e["context"] for e in map(json.loads, capsys.readouterr().out.splitlines())][1] == [
        "tell me a joke"
    ]


def test_markdown_escapes_message_text(db_path, seeded, tmp_path):
    _first, second = seeded
    out = tmp_path / "chat.md"
    _run("export", "--db", str(db_path), "--format", "markdown", "--conversation", str(second))
    _run(
        "export", "--db", str(db_path), "--format", "markdown", "--conversation", str(second),
        "--out", str(out),
    )  # fmt: skip
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Injection\n")
    body = text.split("**You**:\n\n", 1)[1]
    assert "<" not in body and "](" not in body.replace("\\](", "")
    for line in body.splitlines():
        # Nothing in a message can open a block: no heading, list, quote, fence, code, rule.
        assert not re.match(r"(#|[-+*>]\s|\d+[.)]|```|~~~|---| {4}|\t)", line), line
    assert "\\# Heading" in body and "&lt;script&gt;" in body and "&amp;amp;" in body
    assert "&nbsp;&nbsp;&nbsp;&nbsp;indented code" in body
    assert "\\[link\\](http://evil.example)" in body


def test_json_export_then_import_restores_everything(db_path, seeded, tmp_path):
    archive_path = tmp_path / "archive.json"
    _run("export", "--db", str(db_path), "--format", "json", "--out", str(archive_path))
    restored = tmp_path / "restored.db"
    with Store.open(restored) as store:
        store.add_model_version("base", "/models/base", is_base=True)
    assert _run("import", "--db", str(restored), str(archive_path)) == 0

    with Store.open(db_path) as original, Store.open(restored) as copy:
        assert _archive_without_time(copy) == _archive_without_time(original)
        for a, b in zip(
            original.list_conversations(include_archived=True),
            copy.list_conversations(include_archived=True),
            strict=True,
        ):
            assert (a.uid, a.title, a.created_at, a.updated_at, a.archived) == (
                b.uid,
                b.title,
                b.created_at,
                b.updated_at,
                b.archived,
            )
        first = copy.list_conversations()[0]
        alternatives = copy.alternatives(copy.page_messages(first.id, 1, 1)[0].id)
        assert [m.parent_id for m in alternatives] == [None, alternatives[0].id]
        assert alternatives[0].model_version_id == copy.list_model_versions()[0].id


def test_importing_twice_adds_nothing_the_second_time(db_path, seeded, tmp_path, capsys):
    archive_path = tmp_path / "archive.json"
    _run("export", "--db", str(db_path), "--format", "json", "--out", str(archive_path))
    capsys.readouterr()
    fresh = tmp_path / "fresh.db"
    _run("import", "--db", str(fresh), str(archive_path))
    _run("import", "--db", str(fresh), str(archive_path))
    _run("import", "--db", str(db_path), str(archive_path))
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "imported 2 conversations (7 messages); 0 already here were skipped",
        "imported 0 conversations (0 messages); 2 already here were skipped",
        "imported 0 conversations (0 messages); 2 already here were skipped",
    ]
    with Store.open(fresh) as store:
        assert len(store.list_conversations(include_archived=True)) == 2


def _valid_archive(db_path) -> dict:
    with Store.open(db_path) as store:
        return store.export_archive()


def _break(archive: dict, how: str) -> object:
    conversation = archive["conversations"][0]
    message = conversation["messages"][0]
    if how == "format":
        archive["format"] = "something-else"
    elif how == "newer":
        archive["version"] = 99
    elif how == "missing text":
        del message["text"]
    elif how == "bad role":
        message["role"] = "system"
    elif how == "bad rating":
        message["rating"] = 5
    elif how == "bad time":
        message["created_at"] = "yesterday"
    elif how == "two chosen":
        conversation["messages"][1]["chosen"] = True  # its alternative is chosen already
    elif how == "gap":
        conversation["messages"] = conversation["messages"][1:]
    elif how == "unknown parent":
        message["parent_uid"] = "nobody"
    elif how == "lone surrogate":
        message["text"] = "\ud800"
    elif how == "duplicate uid":
        archive["conversations"][1]["uid"] = conversation["uid"]
    elif how == "list":
        return [archive]
    return archive


@pytest.mark.parametrize(
    "how",
    [
        "format",
        "newer",
        "missing text",
        "bad role",
        "bad rating",
        "bad time",
        "two chosen",
        "gap",
        "unknown parent",
        "lone surrogate",
        "duplicate uid",
        "list",
    ],
)
def test_a_malformed_archive_is_one_clear_error_and_writes_nothing(db_path, seeded, tmp_path, how):
    broken = _break(_valid_archive(db_path), how)
    archive_path = tmp_path / "broken.json"
    archive_path.write_text(json.dumps(broken), encoding="utf-8")
    target = tmp_path / "target.db"
    with Store.open(target) as store:
        store.add_user_turn(store.create_conversation().id, "already here")
        before = _archive_without_time(store)

    with pytest.raises(CommandError) as caught:
        _run("import", "--db", str(target), str(archive_path))

    assert "\n" not in str(caught.value) and str(archive_path) in str(caught.value)
    with Store.open(target) as store:
        assert _archive_without_time(store) == before


def test_an_archive_that_is_not_json_is_a_clear_error(db_path, tmp_path, capsys):
    archive_path = tmp_path / "notes.json"
    archive_path.write_text('{"format": "seq2seq-chat-archive",', encoding="utf-8")
    parser = _parser()
    args = parser.parse_args(["import", "--db", str(db_path), str(archive_path)])
    assert run_command(parser, args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is not valid JSON (line 1" in error
    assert not db_path.exists()
    with pytest.raises(CommandError, match="cannot read"):
        _run("import", "--db", str(db_path), str(tmp_path / "absent.json"))


def test_a_failed_export_leaves_no_file_behind(db_path, seeded, tmp_path, monkeypatch):
    out = tmp_path / "examples.jsonl"
    out.write_text("the previous export\n", encoding="utf-8")

    def fail_midway(store, file, **options):
        file.write('{"context": [], "response": "half"}\n')
        raise StoreError("disk is full: could not read")

    monkeypatch.setattr(export_import_command, "write_jsonl", fail_midway)
    with pytest.raises(CommandError, match="disk is full"):
        _run("export", "--db", str(db_path), "--format", "jsonl", "--out", str(out))
    assert out.read_text(encoding="utf-8") == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_chooses_a_conversation_by_id_or_uid(db_path, seeded, capsys):
    first, _second = seeded
    with Store.open(db_path) as store:
        uid = store.get_conversation(first).uid
    for key in (str(first), uid):
        _run("export", "--db", str(db_path), "--format", "json", "--conversation", key)
        archive = json.loads(capsys.readouterr().out)
        assert [c["uid"] for c in archive["conversations"]] == [uid]
    with pytest.raises(CommandError, match="no conversation"):
        _run("export", "--db", str(db_path), "--format", "json", "--conversation", "404")


def test_export_needs_an_existing_database(tmp_path):
    with pytest.raises(CommandError, match="no database"):
        _run("export", "--db", str(tmp_path / "absent.db"), "--format", "jsonl")
