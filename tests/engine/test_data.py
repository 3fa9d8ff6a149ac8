"""Corpus readers on the shipped packages, deterministic splits, and JSON-lines errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.data import (
    Conversation,
    read_chatterbot,
    read_chitchat,
    read_corpus,
    read_jsonl,
    split_examples,
    split_of,
)
from engine.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chitchat_raw() -> dict:
    import chitchat_dataset

    path = Path(chitchat_dataset.__file__).with_name("dataset.json")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def chitchat() -> list[Conversation]:
    return read_chitchat()


def test_chitchat_package_is_the_documented_corpus(chitchat_raw: dict) -> None:
    # DESIGN.md: 7,168 conversations, 258k messages.
    assert len(chitchat_raw) == 7168
    messages = sum(len(turn) for c in chitchat_raw.values() for turn in c["messages"])
    assert 258_000 <= messages < 259_000


def test_chitchat_reader_keeps_every_conversation_with_two_turns(
    chitchat_raw: dict, chitchat: list[Conversation]
) -> None:
    # Counted here from the raw JSON: a turn is one sender's run of messages; a turn whose
    # messages are all blank does not count; a conversation needs two turns to give an example.
    expected_turns = {}
    for key, conversation in chitchat_raw.items():
        turns = [
            turn
            for turn in conversation["messages"]
            if any(message["text"].strip() for message in turn)
        ]
        if len(turns) >= 2:
            expected_turns[key] = len(turns)
    assert 0 < len(expected_turns) < len(chitchat_raw)  # one-sided chats exist and are dropped
    assert {c.key: len(c.turns) for c in chitchat} == expected_turns
    first = chitchat[0]
    raw_first = chitchat_raw[first.key]["messages"][0]
    assert first.turns[0] == " ".join(" ".join(m["text"] for m in raw_first).split())


def test_chitchat_examples_and_splits(chitchat: list[Conversation]) -> None:
    splits = split_examples(chitchat, context_turns=3)
    expected_examples = sum(len(c.turns) - 1 for c in chitchat)
    assert sum(map(len, splits.values())) == expected_examples
    keys = {
        name: {example.conversation for example in examples} for name, examples in splits.items()
    }
    assert not keys["train"] & keys["valid"]
    assert not keys["train"] & keys["test"]
    assert not keys["valid"] & keys["test"]
    # 90 / 5 / 5 by conversation, within sampling noise.
    shares = Counter(split_of(c.key) for c in chitchat)
    assert 0.85 < shares["train"] / len(chitchat) < 0.95
    assert 0.03 < shares["valid"] / len(chitchat) < 0.07
    assert all(len(example.context) <= 3 for example in splits["train"])


def test_chatterbot_english_loads() -> None:
    conversations = read_chatterbot()
    assert len(conversations) > 0
    assert all(len(c.turns) >= 2 and all(c.turns) for c in conversations)
    assert read_corpus("chatterbot") == conversations


def test_splits_are_deterministic_across_processes() -> None:
    keys = [c.key for c in read_chatterbot()]
    here = [split_of(key) for key in keys]
    assert here == [split_of(key) for key in keys]
    # A fresh interpreter with another string-hash seed must agree (no use of hash()).
    code = (
        "import json, sys; from engine.data import read_chatterbot, split_of;"
        "print(json.dumps([split_of(c.key) for c in read_chatterbot()]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == here


def test_jsonl_lines_of_one_conversation_stay_together(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    lines = []
    for conversation in range(60):
        for turn in range(3):
            record = {
                "context": [f"q{turn}"],
                "response": f"a{turn}",
                "conversation": f"k{conversation}",
            }
            lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    splits = split_examples(read_jsonl(path), context_turns=3)
    for name, examples in splits.items():
        for key, count in Counter(e.conversation for e in examples).items():
            assert count == 3, (name, key)
            assert split_of(key) == name


def test_small_corpus_reads(small_corpus: Path) -> None:
    conversations = read_jsonl(small_corpus)
    assert sum(len(c.examples) for c in conversations) == len(
        small_corpus.read_text(encoding="utf-8").splitlines()
    )


GOOD = '{"context": ["hi"], "response": "hello"}\n'


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"context": ["hi"], "response": "hello"\n', "not valid JSON"),
        ('{"context": ["hi"]}\n', "'response' must be a non-empty string"),
        ('{"context": ["hi"], "response": "   "}\n', "'response' must be a non-empty string"),
        ('{"context": "hi", "response": "hello"}\n', "'context' must be a list of strings"),
        ('{"context": ["hi", 3], "response": "hello"}\n', "'context' must be a list of strings"),
        ('["hi", "hello"]\n', "expected a JSON object"),
        ('{"context": [], "response": "x", "conversation": [1]}\n', "'conversation' must be"),
    ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(GOOD + "\n" + GOOD + bad_line + GOOD, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_jsonl(path)
    assert f"{path}:4:" in str(caught.value)  # the blank line 2 still counts
    assert message in str(caught.value)


def test_non_utf8_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    bad = '{"context": ["caf\xe9"], "response": "ol\xe9"}\n'.encode("latin-1")
    path.write_bytes(GOOD.encode() * 3 + bad + GOOD.encode())
    with pytest.raises(DataError) as caught:
        read_jsonl(path)
    assert f"{path}:4" in str(caught.value)


def test_non_utf8_jsonl_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(GOOD.encode() + '{"context": [], "response": "ol\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=str(path)):
        read_jsonl(path)


def test_missing_or_empty_corpus(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither chitchat nor chatterbot"):
        read_corpus(str(tmp_path / "nope.jsonl"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no examples"):
        read_jsonl(empty)
