"""SentencePiece tokenizer with the ids the model relies on.

Ids 0-3 are pad, unk, bos and eos; id 4 is the turn separator `<sep>`, a control symbol (never
produced from user text, so typing "<sep>" cannot forge a turn boundary). Byte fallback keeps any
Unicode text (emoji, CJK, RTL, combining marks) encodable and exactly decodable.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from engine.errors import CheckpointError, ConfigError

PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID = 0, 1, 2, 3, 4
SEP_PIECE = "<sep>"
EXEMPLAR_PIECE = "<exemplar>"  # not a piece: a retrieve-and-refine model's marker, id vocab_size
MODEL_TYPES = ("unigram", "bpe", "word")


def well_formed(text: str) -> str:
    """`text` with every unpaired UTF-16 surrogate replaced by U+FFFD (a pair is joined).

    A Python `str` can hold a lone surrogate (a JSON "\\ud800" escape, a bad clipboard), but
    SentencePiece only takes valid Unicode: it raised a bare RuntimeError on one.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


class Tokenizer:
    """Wraps a trained `SentencePieceProcessor`; serialisable to the bytes of `tokenizer.model`."""

    def __init__(self, model_proto: bytes) -> None:
        self._proto = model_proto
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as error:
            raise CheckpointError(f"not a SentencePiece tokenizer model: {error}") from error
        if self._sp.piece_to_id(SEP_PIECE) != SEP_ID or self._sp.pad_id() != PAD_ID:
            raise CheckpointError("tokenizer.model lacks the reserved <pad>/<sep> ids of this app")

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        *,
        vocab_size: int,
        model_type: str = "unigram",
        max_sentences: int = 400_000,
    ) -> Tokenizer:
        if model_type not in MODEL_TYPES:
            raise ConfigError(f"tokenizer type must be one of {', '.join(MODEL_TYPES)}")
        buffer = io.BytesIO()
        sentences = (well_formed(text) for text in texts if text and text.strip())
        try:
            cls._run_trainer(buffer, sentences, vocab_size, model_type, max_sentences)
        except RuntimeError as error:
            message = str(error).split("] ")[-1]
            raise ConfigError(f"cannot train a {vocab_size}-piece tokenizer: {message}") from None
        return cls(buffer.getvalue())

    @staticmethod
    def _run_trainer(
        buffer: io.BytesIO,
        sentences: Iterable[str],
        vocab_size: int,
        model_type: str,
        max_sentences: int,
    ) -> None:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences,
            model_writer=buffer,
            vocab_size=vocab_size,
            model_type=model_type,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            control_symbols=[SEP_PIECE],
            # Byte fallback needs 256 pieces; the word baseline keeps the classic <unk> instead.
            byte_fallback=model_type != "word",
            character_coverage=0.9995,
            normalization_rule_name="identity",  # decode(encode(x)) == x, combining marks too
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            hard_vocab_limit=False,  # a tiny corpus may not support the asked-for size
            minloglevel=2,
            num_threads=2,
        )

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        try:
            return cls(Path(path).read_bytes())
        except OSError as error:
            raise CheckpointError(f"cannot read tokenizer {path}: {error.strerror}") from error

    def to_bytes(self) -> bytes:
        return self._proto

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return list(self._sp.encode(well_formed(text), out_type=int))

    def decode(self, ids: Sequence[int]) -> str:
        size = self.vocab_size  # ids from there on are the model's own markers, not text
        return self._sp.decode([int(i) for i in ids if SEP_ID < i < size])

    def piece(self, token_id: int) -> str:
        """The piece of an id; the id just past the pieces is a retrieve-and-refine model's
        exemplar marker (engine/config.py), shown as `<exemplar>`."""
        if int(token_id) == self.vocab_size:
            return EXEMPLAR_PIECE
        return self._sp.id_to_piece(int(token_id))

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.piece(i) for i in ids]

    def blank_ids(self) -> list[int]:
        """The bare word-start piece, which decodes to nothing (a reply must not open with it)."""
        token_id = self._sp.piece_to_id("\u2581")
        return [] if token_id == UNK_ID else [token_id]

    def encode_context(self, turns: Sequence[str], *, max_tokens: int) -> list[int]:
        """The last turns joined by `<sep>`, cut from the left (oldest tokens) to `max_tokens`."""
        ids: list[int] = []
        for index, turn in enumerate(turns):
            if index:
                ids.append(SEP_ID)
            ids.extend(self.encode(turn))
        return ids[-max_tokens:] if len(ids) > max_tokens else ids

    def encode_response(self, text: str, *, max_tokens: int) -> list[int]:
        """`text` + eos, cut to `max_tokens` (the eos is kept only when the text fits)."""
        return [*self.encode(text), EOS_ID][:max_tokens]
