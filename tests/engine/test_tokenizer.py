"""Tokenizer: exact round trips on awkward Unicode, the reserved ids, and context truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import CheckpointError
from engine.tokenizer import BOS_ID, EOS_ID, PAD_ID, SEP_ID, UNK_ID, Tokenizer

ODD_TEXTS = [
    "hello there",
    "👩🏽‍💻 writes code, 👨‍👩‍👧‍👦 watches",  # ZWJ sequences with a skin tone
    "thumbs 👍🏿👍🏻 and flags 🇫🇷🇯🇵",
    "日本語のテキストと中文文本",
    "שלום עולם",  # Hebrew, right to left
    "مرحبا بالعالم",  # Arabic, right to left
    "e\u0301 vs é, n\u0303, a\u0308\u0304",  # combining marks stay as typed (no NFC/NFKC)
    "mixed: ok 😀 שלום 123 مرحبا!",
    "tab\tand\nnewline",
    "\u200b zero-width space and \ufeff BOM",
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Tokenizer:
    return Tokenizer.load(tiny_model_dir / "tokenizer.model")


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def any_tokenizer(request: pytest.FixtureRequest, small_corpus: Path) -> Tokenizer:
    texts = [line for line in small_corpus.read_text(encoding="utf-8").splitlines()]
    return Tokenizer.train(texts, vocab_size=400, model_type=request.param)


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_round_trip_is_exact_on_odd_unicode(any_tokenizer: Tokenizer, text: str) -> None:
    ids = any_tokenizer.encode(text)
    assert UNK_ID not in ids  # byte fallback: nothing is unknown
    assert any_tokenizer.decode(ids) == text


def test_reserved_ids(tokenizer: Tokenizer) -> None:
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID) == (0, 1, 2, 3, 4)
    assert tokenizer.pieces([0, 1, 2, 3, 4]) == ["<pad>", "<unk>", "<s>", "</s>", "<sep>"]


def test_reserved_ids_never_come_from_text(tokenizer: Tokenizer) -> None:
    text = "<pad> <unk> <s> </s> <sep> hello"
    ids = tokenizer.encode(text)
    assert not set(ids) & {PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID}
    assert tokenizer.decode(ids) == text


def test_typed_separator_does_not_forge_a_turn(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode_context(["hi <sep> there", "how are you?"], max_tokens=200)
    assert ids.count(SEP_ID) == 1  # only the real boundary between the two turns


def test_encode_context_truncates_from_the_left(tokenizer: Tokenizer) -> None:
    turns = ["what is your name?", "my name is chatbot.", "where do you live?"]
    full = tokenizer.encode_context(turns, max_tokens=1000)
    assert full == [
        *tokenizer.encode(turns[0]),
        SEP_ID,
        *tokenizer.encode(turns[1]),
        SEP_ID,
        *tokenizer.encode(turns[2]),
    ]
    last = tokenizer.encode(turns[-1])
    cut = tokenizer.encode_context(turns, max_tokens=len(last) + 3)
    assert cut == full[-(len(last) + 3) :]  # the oldest tokens go first
    assert cut[-len(last) :] == last


def test_encode_response_keeps_eos_only_when_it_fits(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("i am fine, thank you.")
    assert tokenizer.encode_response("i am fine, thank you.", max_tokens=100) == [*ids, EOS_ID]
    assert tokenizer.encode_response("i am fine, thank you.", max_tokens=2) == ids[:2]


def test_bytes_round_trip(tokenizer: Tokenizer) -> None:
    again = Tokenizer(tokenizer.to_bytes())
    assert again.encode(ODD_TEXTS[1]) == tokenizer.encode(ODD_TEXTS[1])


def test_garbage_model_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.model"
    path.write_bytes(b"not a sentencepiece model")
    with pytest.raises(CheckpointError, match="SentencePiece"):
        Tokenizer.load(path)
