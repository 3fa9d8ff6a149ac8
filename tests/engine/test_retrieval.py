"""The reply index: the training split's turn pairs, searchable by the turn they answered."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.data import Example, read_jsonl, split_examples, split_of
from engine.errors import DataError
from engine.retrieval import INDEX_FILE, ReplyIndex, build_index, query_words

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def splits(small_corpus: Path) -> dict:
    return split_examples(read_jsonl(small_corpus), context_turns=1)


@pytest.fixture(scope="module")
def index(splits: dict, tmp_path_factory: pytest.TempPathFactory) -> ReplyIndex:
    path = tmp_path_factory.mktemp("index") / INDEX_FILE
    build_index(splits["train"], path, corpus="small")
    return ReplyIndex.open(path)


def test_a_training_turn_finds_the_reply_people_gave_it(index: ReplyIndex, splits: dict) -> None:
    example = next(e for e in splits["train"] if len(query_words(e.context[-1])) >= 2)
    found = index.search(example.context[-1], 8)
    assert found, example
    assert example.response in [item.reply for item in found]
    best = found[0]
    assert best.similarity == pytest.approx(1.0) or best.prompt.casefold() == (
        example.context[-1].casefold()
    )
    assert [item.similarity for item in found] == sorted(
        (item.similarity for item in found), reverse=True
    )


def test_no_validation_or_test_conversation_can_be_retrieved(
    index: ReplyIndex, splits: dict
) -> None:
    held_out = [*splits["valid"], *splits["test"]]
    assert held_out, "the fixture corpus has held-out conversations"
    train_replies = {e.response for e in splits["train"]}
    for example in held_out:
        for item in index.search(example.context[-1], 64):
            assert split_of(item.conversation) == "train", item
            assert item.reply in train_replies
    rows = sqlite3.connect(index.path).execute("SELECT conversation FROM pairs").fetchall()
    assert rows and all(split_of(key) == "train" for (key,) in rows)


def test_each_reply_comes_once_and_the_limit_holds(index: ReplyIndex) -> None:
    found = index.search("what is your name?", 3)
    assert 0 < len(found) <= 3
    assert len({" ".join(query_words(item.reply)) for item in found}) == len(found)


@pytest.mark.parametrize("turn", ["?", "👍", "...", "   "])
def test_a_turn_without_words_retrieves_nothing(index: ReplyIndex, turn: str) -> None:
    assert index.search(turn, 8) == []


def test_the_index_records_its_corpus_split_and_size(index: ReplyIndex, splits: dict) -> None:
    assert (index.corpus, index.split) == ("small", "train")
    assert 0 < len(index) <= len(splits["train"])


def test_building_leaves_no_temporary_file_and_a_readable_mode(splits: dict, tmp_path: Path):
    count = build_index(splits["train"], tmp_path / INDEX_FILE, corpus="small")
    assert count > 0
    assert [p.name for p in tmp_path.iterdir()] == [INDEX_FILE]
    assert (tmp_path / INDEX_FILE).stat().st_mode & 0o044 == 0o044


def test_a_file_that_is_not_an_index_is_refused_clearly(tmp_path: Path) -> None:
    bogus = tmp_path / INDEX_FILE
    bogus.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DataError, match="not a readable reply index"):
        ReplyIndex.open(bogus)
    with pytest.raises(DataError, match="no reply index"):
        ReplyIndex.open(tmp_path / "missing.sqlite")


def test_the_index_command_writes_the_file_and_reports_json(small_corpus: Path, tmp_path: Path):
    out = tmp_path / "model"
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "index", "--corpus", str(small_corpus),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pairs"] == len(ReplyIndex.open(out / INDEX_FILE)) > 0
    afile = tmp_path / "a-file"
    afile.write_text("x")
    refused = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "index", "--corpus", str(small_corpus),
         "--out", str(afile)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "is a file, not a folder" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_word_the_corpus_never_had_is_searched_like_any_other(index: ReplyIndex) -> None:
    found = index.search("zqxwv what is your name?", 4)
    assert found and all(item.reply for item in found)
    assert index.search("zqxwv", 4) == []


def idf_cosine(path: Path, turn: str, prompt: str) -> float:
    """The ranking's cosine of two turns, from the file alone (no ReplyIndex, no cache)."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, pairs, row)")
    df = dict(connection.execute("SELECT term, doc FROM temp.v"))
    size = connection.execute("SELECT count(*) FROM pairs").fetchone()[0]
    connection.close()

    def weights(text: str) -> dict[str, float]:
        return {w: math.log((size + 1) / (df.get(w, 0) + 1)) + 1 for w in set(query_words(text))}

    first, second = weights(turn), weights(prompt)
    shared = sum(weight * second.get(word, 0.0) for word, weight in first.items())
    norm = math.sqrt(sum(w * w for w in first.values()) * sum(w * w for w in second.values()))
    return shared / norm


def test_every_search_ranks_by_the_idf_cosine_of_its_own_file(splits: dict, tmp_path: Path):
    # A search keeps its words' weights for the next one: a repeated search, another turn, and
    # a rebuilt file (other pairs, other weights) must each score as the file says.
    path = tmp_path / INDEX_FILE
    train = splits["train"]
    key = train[0].conversation
    more = [Example((f"tell me about your day {n}",), f"reply {n}", key) for n in range(10)]
    turns = ("what is your name?", "what do you do for fun?", "what is your name?")
    for examples in (train, [*train, *more]):
        build_index(examples, path, corpus="small")
        index = ReplyIndex.open(path)
        for turn in turns:
            found = index.search(turn, 8)
            assert found, turn
            for item in found:
                assert item.similarity == pytest.approx(idf_cosine(path, turn, item.prompt))
        index.close()


def test_a_search_started_ahead_answers_only_its_own_turn(index: ReplyIndex) -> None:
    name, music = index.search("what is your name?", 8), index.search("do you like music?", 8)
    assert name and music and name != music
    index.search_ahead("what is your name?", 8)
    assert index.search("what is your name?", 8) == name
    index.search_ahead("what is your name?", 8)
    assert index.search("do you like music?", 8) == music
    index.search_ahead("what is your name?", 8)
    assert index.search("what is your name?", 3) == name[:3]
