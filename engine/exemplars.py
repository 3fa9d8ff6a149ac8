"""Retrieve and refine (Weston, Dinan and Miller 2018): the encoder reads the context and then,
after an `<exemplar>` marker, one reply people wrote, so the decoder's attention can copy and
adapt it.

Training needs an exemplar for each example. They are retrieved once from the reply index
(the training split's pairs, engine/retrieval.py) and kept in an exemplars file, one line per
example: the replies found for its answered turn in *other* conversations, so no example is
shown its own reply. When training reads the file, `ExemplarMix` decides each example's
exemplar: none (the model must still answer alone), the first reply found (what chat offers),
the reply found that shares most words with the true one, or the true reply itself. The last
two are the paper's remedy for a generator that learns to ignore its exemplar (RetNRef+ / ++):
with only loosely related exemplars, copying never pays, and the model stops looking.
"""

from __future__ import annotations

import json
import math
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from engine.config import ModelConfig
from engine.data import Example
from engine.errors import DataError
from engine.retrieval import ReplyIndex, query_words

FORMAT = "seq2seq-chat-exemplars/1"
CANDIDATES = 8  # replies kept per example, from other conversations only
SEARCHED = 24  # best turns taken, before those of the example's own chat are dropped
CHUNK = 512  # examples scored against the whole index at once (a 200 MB score matrix)


@dataclass(frozen=True)
class ExemplarMix:
    """How often each kind of exemplar goes with a training example (the rest: the first
    reply found). Validation examples always get the first reply found, as chat would."""

    none: float = 0.2
    closest: float = 0.3  # of the replies found, the one sharing most words with the true one
    gold: float = 0.15  # the true reply itself

    def __post_init__(self) -> None:
        shares = (self.none, self.closest, self.gold)
        if any(not 0.0 <= share <= 1.0 for share in shares) or sum(shares) > 1.0:
            raise DataError("exemplar mix: each share is in [0, 1] and they sum to at most 1")


@dataclass(frozen=True)
class FoundReplies:
    """One line of an exemplars file: the replies found for one example's answered turn."""

    split: str
    position: int  # the example's index within its split
    conversation: str  # the example's own conversation (none of the replies comes from it)
    replies: tuple[str, ...]


class ReplyFinder:
    """The replies of the index's best-matching answered turns, for many examples at once.

    The index's own ranking (the idf-weighted cosine of the words of the turns), computed for
    a chunk of examples against every indexed turn in one sparse product: 45 ms a turn through
    FTS5 on a busy CPU would take hours over a corpus, this takes minutes.
    """

    def __init__(self, index: ReplyIndex) -> None:
        rows = index.pairs()
        self._replies = [reply for _, reply, _ in rows]
        self._conversations = [conversation for _, _, conversation in rows]
        self._columns: dict[str, int] = {}
        self._weights: list[float] = []
        self._index = index
        coordinates: list[tuple[int, int]] = []
        values: list[float] = []
        for row, (prompt, _, _) in enumerate(rows):
            vector = self._vector(prompt, grow=True)
            coordinates += [(row, column) for column in vector]
            values += list(vector.values())
        indices = torch.tensor(coordinates, dtype=torch.long).reshape(-1, 2).t()
        shape = (len(rows), max(len(self._columns), 1))
        with warnings.catch_warnings():  # "CSR support is in beta": it serves this one product
            warnings.simplefilter("ignore", UserWarning)
            self._prompts = torch.sparse_coo_tensor(
                indices, torch.tensor(values), shape, check_invariants=True
            ).to_sparse_csr()

    def _vector(self, text: str, *, grow: bool = False) -> dict[int, float]:
        """The unit-length idf-weighted word vector of a turn (its word set), by column."""
        vector: dict[int, float] = {}
        for word in dict.fromkeys(query_words(text)):
            if word not in self._columns:
                if not grow:
                    continue  # a word no indexed turn has adds nothing to any cosine
                self._columns[word] = len(self._columns)
                self._weights.append(self._index.idf(word))
            column = self._columns[word]
            vector[column] = self._weights[column]
        norm = math.sqrt(sum(value * value for value in vector.values()))
        return {column: value / norm for column, value in vector.items()} if norm else {}

    def find(self, examples: Sequence[Example]) -> list[tuple[str, ...]]:
        """For each example, up to CANDIDATES replies to turns like its last, best first, none
        from its own conversation and none that is its own reply."""
        queries = torch.zeros(len(examples), self._prompts.shape[1])
        for row, example in enumerate(examples):
            for column, value in self._vector(
                example.context[-1] if example.context else ""
            ).items():
                queries[row, column] = value
        scores = torch.sparse.mm(self._prompts, queries.t())  # (pairs, examples)
        best = scores.topk(min(SEARCHED, scores.shape[0]), dim=0)
        found = []
        for column, example in enumerate(examples):
            own = " ".join(query_words(example.response))
            replies: dict[str, str] = {}
            for score, row in zip(
                best.values[:, column].tolist(), best.indices[:, column].tolist()
            ):
                key = " ".join(query_words(self._replies[row]))
                if score <= 0 or self._conversations[row] == example.conversation or key == own:
                    continue
                replies.setdefault(key, self._replies[row])
            found.append(tuple(replies.values())[:CANDIDATES])
        return found


def with_found_exemplars(examples: Sequence[Example], finder: ReplyFinder) -> list[Example]:
    """`examples`, each without an exemplar given the first reply found for it (as chat
    offers); those that have one keep it."""
    chosen = list(examples)
    missing = [i for i, example in enumerate(examples) if not example.exemplar]
    for start in range(0, len(missing), CHUNK):
        rows = missing[start : start + CHUNK]
        for row, replies in zip(rows, finder.find([examples[i] for i in rows])):
            chosen[row] = replace(examples[row], exemplar=_first(replies))
    return chosen


def write_exemplars(
    splits: dict[str, Sequence[Example]],
    index: ReplyIndex,
    path: str | Path,
    *,
    corpus: str,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the exemplars file for `splits` (name -> examples, in order) through a temporary
    file renamed into place; the lines written (one per example)."""
    finder = ReplyFinder(index)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    written = 0
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            header = {"format": FORMAT, "corpus": corpus, "index": str(index.path)}
            handle.write(json.dumps(header) + "\n")
            for split, examples in splits.items():
                for start in range(0, len(examples), CHUNK):
                    chunk = examples[start : start + CHUNK]
                    for offset, replies in enumerate(finder.find(chunk)):
                        line = FoundReplies(
                            split, start + offset, chunk[offset].conversation, replies
                        )
                        handle.write(json.dumps(asdict(line), ensure_ascii=False) + "\n")
                    written += len(chunk)
                    if on_progress is not None:
                        on_progress(written)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written


def read_exemplars(path: str | Path) -> Iterator[FoundReplies]:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            header = json.loads(handle.readline() or "null")
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise DataError(f"{path} is not an exemplars file of this app ({FORMAT})")
            for number, line in enumerate(handle, start=2):
                yield _parse_line(line, path, number)
    except OSError as error:
        raise DataError(f"cannot read exemplars file {path}: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not JSON lines ({error})") from None


def _parse_line(line: str, path: Path, number: int) -> FoundReplies:
    record = json.loads(line)
    try:
        found = FoundReplies(
            str(record["split"]),
            int(record["position"]),
            str(record["conversation"]),
            tuple(str(reply) for reply in record["replies"]),
        )
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path} line {number}: not an exemplars line") from None
    return found


def with_exemplars(
    examples: Sequence[Example],
    found: dict[int, FoundReplies],
    *,
    split: str,
    mix: ExemplarMix,
    seed: int = 0,
) -> list[Example]:
    """`examples` each with its exemplar chosen by `mix` (seeded, so every rank and every
    resumed run picks the same). An example the file has no line for keeps none."""
    rng = random.Random(seed)
    chosen = []
    for position, example in enumerate(examples):
        line = found.get(position)
        if line is not None and line.conversation != example.conversation:
            raise DataError(
                f"exemplars file does not match the corpus: {split} example {position} is from "
                f"conversation {example.conversation!r}, the file says {line.conversation!r}"
            )
        replies = line.replies if line is not None else ()
        exemplar = _pick(example, replies, mix, rng) if split == "train" else _first(replies)
        chosen.append(replace(example, exemplar=exemplar))
    return chosen


def _first(replies: Sequence[str]) -> str:
    return replies[0] if replies else ""


def _pick(example: Example, replies: Sequence[str], mix: ExemplarMix, rng: random.Random) -> str:
    draw = rng.random()
    if draw < mix.none:
        return ""
    if draw < mix.none + mix.gold:
        return example.response
    if draw < mix.none + mix.gold + mix.closest and replies:
        return max(replies, key=lambda reply: word_overlap(reply, example.response))
    return _first(replies)


def word_overlap(reply: str, target: str) -> float:
    """The share of `target`'s distinct words that `reply` has too (0..1)."""
    wanted = set(query_words(target))
    return len(wanted & set(query_words(reply))) / len(wanted) if wanted else 0.0


def load_exemplars(path: str | Path) -> dict[str, dict[int, FoundReplies]]:
    """An exemplars file by split, then by the example's position."""
    by_split: dict[str, dict[int, FoundReplies]] = {}
    for line in read_exemplars(path):
        by_split.setdefault(line.split, {})[line.position] = line
    return by_split


def with_marker_row(state: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """A saved model's weights, fitted to `config`: a model that reads exemplars, started from
    one that reads none, gets the marker's embedding row (the mean of the others, so it starts
    as an ordinary word, not a surprise)."""
    rows = config.vocab_size + int(config.exemplar)
    fitted = dict(state)
    for name, weight in state.items():
        if name.endswith("embedding.weight") and weight.shape[0] == rows - 1:
            fitted[name] = torch.cat([weight, weight[1:].mean(dim=0, keepdim=True)])
    return fitted
