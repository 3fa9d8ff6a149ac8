"""Corpora as examples in the interchange format `{"context": [turns], "response": "turn"}`.

Readers turn the shipped corpora (`chitchat-dataset`, `chatterbot-corpus`) and JSON-lines files
into conversations; `make_examples` cuts conversations into multi-turn examples; `split_of`
puts each conversation in train, valid or test by a hash of its key, so splits never change
between runs or machines and no conversation straddles two splits.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import DataError

SPLITS = ("train", "valid", "test")
CORPUS_NAMES = ("chitchat", "chatterbot")
MAX_LINE_BYTES = 10_000_000  # one example; far above any real one, and bounds the memory


@dataclass(frozen=True)
class Example:
    context: tuple[str, ...]  # earlier turns, oldest first
    response: str
    conversation: str = ""  # key of the conversation it came from (decides the split)
    # A reply people wrote that the encoder reads after the context (retrieve and refine,
    # engine/exemplars.py); "" for none, and always none for a model that reads no exemplar.
    exemplar: str = ""


@dataclass(frozen=True)
class Conversation:
    key: str
    turns: tuple[str, ...]
    examples: tuple[Example, ...] = field(default=())  # set when read from examples directly


def split_of(key: str, *, valid_percent: int = 5, test_percent: int = 5) -> str:
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:4], "big") % 100
    if bucket < test_percent:
        return "test"
    if bucket < test_percent + valid_percent:
        return "valid"
    return "train"


def _clean(text: str) -> str:
    return " ".join(text.split())


def read_chitchat() -> list[Conversation]:
    """The Chit Chat Challenge corpus: consecutive messages of one sender form one turn."""
    import chitchat_dataset

    path = Path(chitchat_dataset.__file__).with_name("dataset.json")
    with path.open(encoding="utf-8") as handle:
        raw = json.load(handle)
    conversations = []
    for key, conversation in raw.items():
        turns = [_clean(" ".join(u["text"] for u in turn)) for turn in conversation["messages"]]
        turns = [turn for turn in turns if turn]
        if len(turns) >= 2:
            conversations.append(Conversation(key=key, turns=tuple(turns)))
    return conversations


def read_chatterbot(language: str = "english") -> list[Conversation]:
    """The chatterbot-corpus YAML dialogues (each a short exchange)."""
    import chatterbot_corpus
    import yaml

    folder = Path(chatterbot_corpus.__file__).with_name("data") / language
    conversations = []
    for path in sorted(folder.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for index, dialogue in enumerate(document.get("conversations", [])):
            turns = [_clean(str(turn)) for turn in dialogue if turn is not None]
            turns = [turn for turn in turns if turn]
            if len(turns) >= 2:
                conversations.append(Conversation(key=f"{path.stem}:{index}", turns=tuple(turns)))
    return conversations


def _parse_line(path: Path, number: int, line: str) -> Example:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise DataError(f"{where}: nested too deeply to be an example") from None
    except ValueError as error:  # an integer of thousands of digits, for one
        raise DataError(f"{where}: not a readable example ({error})") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object with 'context' and 'response'")
    context, response = record.get("context"), record.get("response")
    if not isinstance(context, list) or not all(isinstance(turn, str) for turn in context):
        raise DataError(f"{where}: 'context' must be a list of strings")
    if not isinstance(response, str) or not response.strip():
        raise DataError(f"{where}: 'response' must be a non-empty string")
    key = record.get("conversation", f"line-{number}")
    if not isinstance(key, (str, int)):
        raise DataError(f"{where}: 'conversation' must be a string or an integer")
    turns = tuple(_clean(turn) for turn in context if turn.strip())
    return Example(context=turns, response=_clean(response), conversation=str(key))


def read_jsonl(path: str | Path) -> list[Conversation]:
    """Interchange-format examples; lines sharing a `conversation` key stay in one split."""
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would hang, /dev/zero never end
            raise DataError(f"{path} is not a regular file (a folder, a device or a pipe)")
        handle = path.open("rb")  # bytes, decoded line by line, so an error names its line
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    grouped: dict[str, list[Example]] = {}
    with handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), 1):
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(f"{path}:{number}: a line longer than {MAX_LINE_BYTES:,} bytes")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(f"{path}:{number}: not UTF-8 text ({error.reason})") from None
            if line.strip():
                example = _parse_line(path, number, line)
                grouped.setdefault(example.conversation, []).append(example)
    if not grouped:
        raise DataError(f"{path}: no examples in the file")
    return [
        Conversation(key=key, turns=(), examples=tuple(examples))
        for key, examples in grouped.items()
    ]


def read_corpus(name_or_path: str) -> list[Conversation]:
    if name_or_path == "chitchat":
        return read_chitchat()
    if name_or_path == "chatterbot":
        return read_chatterbot()
    path = Path(name_or_path)
    if not path.exists():
        raise DataError(
            f"corpus {name_or_path!r} is neither {' nor '.join(CORPUS_NAMES)} nor an existing file"
        )
    return read_jsonl(path)


def make_examples(conversation: Conversation, *, context_turns: int) -> Iterator[Example]:
    """Every turn after the first becomes a response to the `context_turns` turns before it."""
    if conversation.examples:
        for example in conversation.examples:
            yield Example(example.context[-context_turns:], example.response, conversation.key)
        return
    turns = conversation.turns
    for index in range(1, len(turns)):
        context = turns[max(0, index - context_turns) : index]
        yield Example(context=tuple(context), response=turns[index], conversation=conversation.key)


def split_examples(
    conversations: Iterable[Conversation], *, context_turns: int
) -> dict[str, list[Example]]:
    splits: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for conversation in conversations:
        splits[split_of(conversation.key)].extend(
            make_examples(conversation, context_turns=context_turns)
        )
    return splits


def backward_examples(examples: Iterable[Example]) -> list[Example]:
    """Each reply as the source and the turn it answered as the target: the training data of
    a backward model p(context | reply). Examples without a context turn have nothing to
    predict and are left out."""
    return [
        Example(context=(example.response,), response=example.context[-1],
                conversation=example.conversation)
        for example in examples
        if example.context
    ]  # fmt: skip


def write_jsonl(examples: Iterable[Example], path: str | Path) -> None:
    with Path(path).open("w", encoding="utf-8") as handle:
        for example in examples:
            record = {
                "context": list(example.context),
                "response": example.response,
                "conversation": example.conversation,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


_PUNCTUATION = re.compile(r"[^\w\s]")


def normalise(text: str) -> str:
    """Case, spacing and punctuation folded away: "What's your NAME ?" -> "whats your name".

    How saved pairs are told apart (one pair counts once) and how a turn matches a correction
    exactly; here, free of torch, so the fine-tune dialog can count pairs without loading it."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCTUATION.sub("", folded).split())
