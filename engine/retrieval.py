"""Replies people wrote, found by what they answered: an SQLite FTS5 index of the training
split's turn pairs (each answered turn with its reply), ranked by bm25.

The index holds the training split alone (never validation or test, so evaluation stays
honest), built once by `main.py index` and shipped beside the model as `replies.sqlite`. It is
plain text, so any model that shares the corpus can use it. SQLite comes with Python; FTS5's
bm25 is the same ranking the app's message search uses.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.data import Example
from engine.errors import DataError

INDEX_FILE = "replies.sqlite"
FORMAT = "seq2seq-chat-replies/2"
MAX_QUERY_WORDS = 24  # a long turn's first words are enough to find its kind of reply
# Replies longer than the model's reply budget would be cut when scored; one-word prompts and
# replies ("ok" -> "lol") fit anything and answer nothing.
MAX_REPLY_WORDS = 30
MAX_PROMPT_WORDS = 40
_WORD = re.compile(r"\w+")
RARE_SHARE = 0.03  # a word in more than 3% of the answered turns ("you", "what") is common
MAX_RARE_WORDS = 6
SHORTLIST = 256  # pairs FTS5 hands to the cosine ranking
# Answered turns whose word weights are kept: a turn of common words shortlists the same pairs
# as the last one, and weighing 512 prompts' words was a third of a search.
WEIGHED_PROMPTS = 4096
EARLIER_TURNS = 2  # turns kept from before each prompt (the models read three turns)


@dataclass(frozen=True)
class Retrieved:
    """A reply from the corpus and the turn it answered there."""

    prompt: str
    reply: str
    conversation: str  # the corpus's key of the conversation it came from
    earlier: tuple[str, ...]  # the turns before the prompt there (at most two), oldest first
    similarity: float  # idf-weighted cosine of the answered turn's words and yours, 0..1


def query_words(text: str) -> list[str]:
    """The words of a turn, lower-cased, as FTS5 tokenises them (punctuation is not a word)."""
    return _WORD.findall(text.casefold())[:MAX_QUERY_WORDS]


def usable_pair(prompt: str, reply: str) -> bool:
    """Whether a corpus pair may be offered: both sides say something, the reply fits the
    model's reply budget and the prompt is a chat turn, not a page of text."""
    prompt_words, reply_words = len(prompt.split()), len(reply.split())
    return (
        0 < prompt_words <= MAX_PROMPT_WORDS
        and 0 < reply_words <= MAX_REPLY_WORDS
        and bool(query_words(prompt))
    )


class ReplyIndex:
    """A read-only view of one `replies.sqlite`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._connection = connection
        meta = dict(connection.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            raise DataError(f"{path} is not a reply index of this app (format {FORMAT})")
        self.corpus = meta.get("corpus", "")
        self.split = meta.get("split", "")
        self.size = int(meta.get("pairs", "0"))
        self._df: dict[str, int] | None = None
        self._idf: dict[str, float] = {}  # each word's weight, computed once
        # Per index (a rebuilt file is another ReplyIndex): rowid -> its prompt's weights.
        self._prompt_weights = lru_cache(maxsize=WEIGHED_PROMPTS)(self._weigh_prompt)
        self._worker: ThreadPoolExecutor | None = None
        self._ahead: tuple[tuple[str, int], Future[list[Retrieved]]] | None = None

    @classmethod
    def open(cls, path: str | Path) -> ReplyIndex:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"no reply index at {path}")
        try:
            # Read-only and immutable: a shipped index may sit in a read-only install folder.
            connection = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
            return cls(path, connection)
        except sqlite3.DatabaseError as error:
            raise DataError(f"{path} is not a readable reply index ({error})") from None

    def __len__(self) -> int:
        return self.size

    def search_ahead(self, turn: str, limit: int) -> None:
        """Start `search(turn, limit)` on a worker thread: the pool's model samples its own
        replies meanwhile (SQLite lets go of the GIL), and `search` then takes the result."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reply-index")
        self._ahead = ((turn, limit), self._worker.submit(self._search, turn, limit))

    def search(self, turn: str, limit: int) -> list[Retrieved]:
        """`_search`, or the result of `search_ahead` for the same turn and limit."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == (turn, limit):
            return ahead[1].result()
        return self._search(turn, limit)

    def _search(self, turn: str, limit: int) -> list[Retrieved]:
        """Up to `limit` pairs whose answered turn best matches `turn`, best first, each reply
        once; none for a turn without words (only punctuation or emoji).

        Two steps, so a turn of common words costs milliseconds: FTS5 finds the pairs that have
        all of the turn's words or share its rarer ones, then the idf-weighted
        cosine of all the words ranks them, so "what do you do for a living?" prefers "what do
        you do for work?" to "living life"."""
        words = list(dict.fromkeys(query_words(turn)))
        if not words or limit <= 0:
            return []
        df = self._document_frequencies()
        known = sorted((w for w in words if df.get(w, 0)), key=lambda w: df[w])  # rarest first
        rare = [w for w in known if df[w] <= self.size * RARE_SHARE]
        queries = [" AND ".join(f'"{word}"' for word in words)]  # the same words, any order
        # The rarer words; a turn of common words alone (or with one the corpus never had)
        # falls back on its rarest known words.
        anchor = " OR ".join(f'"{word}"' for word in (rare or known)[:MAX_RARE_WORDS])
        if anchor and anchor != queries[0]:  # a one-word turn's two queries are the same
            queries.append(anchor)
        # `rank` is bm25 (FTS5's default) sorted inside FTS5: 40% faster than bm25(pairs).
        rows = {
            row[0]: row[1:]
            for query in queries
            for row in self._connection.execute(
                "SELECT rowid, prompt, reply, conversation, earlier FROM pairs WHERE pairs MATCH ?"
                " ORDER BY rank LIMIT ?",
                (query, SHORTLIST),
            )
        }
        wanted = self.weights(words)
        wanted_norm = sum(w * w for w in wanted.values())
        scored = sorted(
            (
                (self._cosine(wanted, wanted_norm, *self._prompt_weights(rowid, row[0])), *row)
                for rowid, row in rows.items()
            ),
            key=lambda row: row[0],
            reverse=True,
        )
        found: dict[str, Retrieved] = {}
        for similarity, prompt, reply, conversation, earlier in scored:
            key = " ".join(query_words(reply))
            if key not in found:
                turns = tuple(turn for turn in earlier.split("\n") if turn)
                found[key] = Retrieved(prompt, reply, conversation, turns, similarity)
            if len(found) == limit:
                break
        return list(found.values())

    def _document_frequencies(self) -> dict[str, int]:
        if self._df is None:
            self._connection.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, pairs, row)"
            )
            self._df = dict(self._connection.execute("SELECT term, doc FROM temp.vocab"))
        return self._df

    def weights(self, words: Iterable[str]) -> dict[str, float]:
        """Each word's idf in the answered turns (rarer words weigh more; an unknown word most)."""
        idf = self._idf
        weights = {}
        for word in words:
            weight = idf.get(word)
            if weight is None:
                df = self._document_frequencies().get(word, 0)
                weight = idf[word] = math.log((self.size + 1) / (df + 1)) + 1
            weights[word] = weight
        return weights

    def _weigh_prompt(self, rowid: int, prompt: str) -> tuple[dict[str, float], float]:
        """An answered turn's word weights and their sum of squares (`_prompt_weights` keeps
        them by rowid)."""
        have = self.weights(set(query_words(prompt)))
        return have, sum(w * w for w in have.values())

    @staticmethod
    def _cosine(
        wanted: dict[str, float], wanted_norm: float, have: dict[str, float], have_norm: float
    ) -> float:
        """The idf-weighted cosine of the turn's words and the prompt's words (sets), from
        their weights and sums of squares."""
        shared = sum(weight * have[word] for word, weight in wanted.items() if word in have)
        norm = math.sqrt(wanted_norm * have_norm)
        return shared / norm if norm else 0.0

    def rows(self) -> list[tuple[str, str, str, str]]:
        """Every (prompt, reply, conversation, earlier turns joined by newlines) of the index."""
        return list(
            self._connection.execute("SELECT prompt, reply, conversation, earlier FROM pairs")
        )

    def pairs(self) -> list[tuple[str, str, str]]:
        """Every (prompt, reply, conversation) of the index, in the order it was built."""
        return [row[:3] for row in self.rows()]

    def idf(self, word: str) -> float:
        """The weight of `word` in the ranking cosine: rarer words count more."""
        return self.weights([word])[word]

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)  # a search under way ends before its connection
        self._connection.close()


def build_index(
    examples: Iterable[Example],
    path: str | Path,
    *,
    corpus: str,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the index of `examples` (the training split's, with the answered turn last in
    each context and up to two turns before it) to `path`, through a temporary file renamed
    into place; the pair count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".replies-", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        count = _write_index(Path(temporary), examples, corpus, on_progress)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide a shipped index from other users
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def _write_index(
    target: Path,
    examples: Iterable[Example],
    corpus: str,
    on_progress: Callable[[int], None] | None,
) -> int:
    connection = sqlite3.connect(target)
    try:
        connection.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
            # Only the answered turn is searched; the reply and its conversation ride along.
            # `earlier`: the turns before the prompt, so the scorer can tell a reply that leans
            # on them ("you're welcome", after a thanks) from one the prompt alone explains.
            "CREATE VIRTUAL TABLE pairs USING fts5(prompt, reply UNINDEXED,"
            " conversation UNINDEXED, earlier UNINDEXED,"
            " tokenize = 'unicode61 remove_diacritics 2');"
        )
        seen: set[tuple[str, str]] = set()
        count = 0
        for example in examples:
            if not example.context:
                continue
            prompt, reply = example.context[-1], example.response
            key = (prompt.casefold(), reply.casefold())
            if key in seen or not usable_pair(prompt, reply):
                continue
            seen.add(key)
            earlier = "\n".join(example.context[:-1][-EARLIER_TURNS:])
            connection.execute(
                "INSERT INTO pairs (prompt, reply, conversation, earlier) VALUES (?, ?, ?, ?)",
                (prompt, reply, example.conversation, earlier),
            )
            count += 1
            if on_progress is not None and count % 10_000 == 0:
                on_progress(count)
        meta = {"format": FORMAT, "corpus": corpus, "split": "train", "pairs": str(count)}
        connection.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        connection.execute("INSERT INTO pairs(pairs) VALUES ('optimize')")
        connection.commit()
        connection.execute("VACUUM")
    finally:
        connection.close()
    with target.open("rb") as written:
        os.fsync(written.fileno())
    return count
