"""Store timings on large conversations; prints one JSON object (a benchmark, not a test).

    python bench/store.py [--dir FOLDER] [--repeats N]

- append_turn_ms: `add_user_turn` / `add_bot_reply`, commit (and its fsync) included; beside it,
  append_turn_raw_sqlite_ms: the same transaction written by hand in sqlite3 on the same file,
  so the difference is what SQLAlchemy and the store add.
- open_10k_conversation_ms: what the window does on opening a 10,000-message conversation:
  `message_count`, then `page_messages` for the last page of 50.
- list_1000_conversations_ms: `list_conversations` over 1,000 conversations (10,000 messages).
- search_100k_messages_ms: `search` over 100,000 messages, for words from frequent to rare.
- open_store_100k_messages_ms: `Store.open` of that database (its `PRAGMA quick_check`).

Large databases are seeded with raw SQL (the FTS triggers still fire), since a million ORM
round trips would only measure the seeding; every timing goes through `Store`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatapp.store import GenerationInfo, Store  # after the path fix, so a checkout runs as is

PAGE = 50
TARGETS_MS = {
    "append_turn_ms": 5,
    "open_10k_conversation_ms": 50,
    "list_1000_conversations_ms": 50,
    "search_100k_messages_ms": 100,
}


def elapsed_ms(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def timed(function: Callable[[], object], repeats: int) -> list[float]:
    """Milliseconds per call, after one warm-up call."""
    function()
    return [elapsed_ms(function) for _ in range(repeats)]


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max": round(ordered[-1], 3),
    }


def vocabulary(size: int, generator: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(generator.choices(letters, k=generator.randint(3, 9))) for _ in range(size)}
    return sorted(words)


def seed_messages(
    db_path: Path,
    conversations: int,
    messages_each: int,
    words: list[str],
    generator: random.Random,
) -> list[int]:
    """Conversations of alternating turns with Zipf-distributed words; their ids."""
    weights = [1 / (rank + 1) for rank in range(len(words))]
    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    connection = sqlite3.connect(db_path)
    ids = []
    with connection:
        for _ in range(conversations):
            cursor = connection.execute(
                "INSERT INTO conversations (uid, title, created_at, updated_at, pinned, archived) "
                "VALUES (?, ?, ?, ?, 0, 0)",
                (str(uuid.uuid4()), " ".join(generator.choices(words, k=4)), now, now),
            )
            conversation_id = cursor.lastrowid
            ids.append(conversation_id)
            connection.executemany(
                "INSERT INTO messages (uid, conversation_id, position, role, text, created_at, "
                "chosen, rating, stopped) VALUES (?, ?, ?, ?, ?, ?, 1, 0, 0)",
                [
                    (
                        str(uuid.uuid4()),
                        conversation_id,
                        position,
                        "user" if position % 2 == 0 else "bot",
                        " ".join(generator.choices(words, weights, k=generator.randint(6, 30))),
                        now,
                    )
                    for position in range(messages_each)
                ],
            )
    connection.close()
    return ids


def bench_append(folder: Path, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """The store's append, and the same transaction by hand in sqlite3, taking turns.

    Taking turns on one file matters: the cost is mostly the commit's fsync, which on some
    disks depends on whether the WAL is still growing or already being reused.
    """
    path = folder / "append.db"
    with Store.open(path) as store:
        conversation = store.create_conversation()
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("PRAGMA synchronous = FULL")
        raw.execute("PRAGMA foreign_keys = ON")
        turns = iter(range(10**9))

        def append() -> None:
            index = next(turns)
            if index % 2 == 0:
                store.add_user_turn(conversation.id, f"user turn number {index}")
            else:
                store.add_bot_reply(
                    conversation.id, f"bot reply number {index}", GenerationInfo(seed=index)
                )

        def append_raw() -> None:
            now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
            raw.execute("BEGIN IMMEDIATE")
            (last,) = raw.execute(
                "SELECT max(position) FROM messages WHERE conversation_id = ?", (conversation.id,)
            ).fetchone()
            raw.execute(
                "INSERT INTO messages (uid, conversation_id, position, role, text, created_at, "
                "chosen, rating, stopped) VALUES (?, ?, ?, 'user', ?, ?, 1, 0, 0)",
                (str(uuid.uuid4()), conversation.id, last + 1, f"user turn number {last}", now),
            )
            raw.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation.id)
            )
            raw.execute("COMMIT")

        # Past the first WAL checkpoint, so the steady state is measured, not a growing file.
        for _ in range(400):
            append()
        store_samples, raw_samples = [], []
        for _ in range(repeats):
            store_samples.append(elapsed_ms(append))
            raw_samples.append(elapsed_ms(append_raw))
        raw.close()
    return summary(store_samples), summary(raw_samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="where the databases go (default: a temporary folder)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    generator = random.Random(1234)
    words = vocabulary(6000, generator)

    with tempfile.TemporaryDirectory(dir=args.dir) as temporary:
        folder = Path(temporary)
        append, append_raw = bench_append(folder, args.repeats)

        long_path = folder / "long.db"
        Store.open(long_path).close()
        (long_id,) = seed_messages(long_path, 1, 10_000, words, generator)
        with Store.open(long_path) as store:

            def open_conversation() -> None:
                count = store.message_count(long_id)
                assert len(store.page_messages(long_id, max(0, count - PAGE), PAGE)) == PAGE

            open_10k = summary(timed(open_conversation, 50))

        many_path = folder / "many.db"
        Store.open(many_path).close()
        seed_messages(many_path, 1000, 10, words, generator)
        with Store.open(many_path) as store:
            assert len(store.list_conversations()) == 1000
            listing = summary(timed(store.list_conversations, 30))

        big_path = folder / "big.db"
        Store.open(big_path).close()
        seed_messages(big_path, 2000, 50, words, generator)
        Store.open(big_path).close()  # the first open of the day also makes the daily backup
        open_big_ms = elapsed_ms(lambda: Store.open(big_path).close())
        store = Store.open(big_path)
        queries = {
            "frequent word": words[0],
            "common word": words[20],
            "mid word": words[500],
            "rare word": words[5000],
            "two words": f"{words[3]} {words[40]}",
            "prefix": words[100][:3],
            "no match": "zzzzzzzzzz",
        }
        per_query = {}
        all_samples = []
        with store:
            for name, query in queries.items():
                samples = timed(lambda query=query: store.search(query), 20)
                per_query[name] = {
                    "query": query,
                    "hits": len(store.search(query)),
                    **summary(samples),
                }
                all_samples += samples
        size_mb = big_path.stat().st_size / 2**20

    result = {
        "append_turn_ms": append,
        "append_turn_raw_sqlite_ms": append_raw,
        "open_10k_conversation_ms": open_10k,
        "list_1000_conversations_ms": listing,
        "search_100k_messages_ms": {**summary(all_samples), "per_query": per_query},
        "open_store_100k_messages_ms": round(open_big_ms, 1),
        "db_100k_messages_mb": round(size_mb, 1),
        "targets_ms": TARGETS_MS,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
    }
    result["met"] = {name: result[name]["median"] < target for name, target in TARGETS_MS.items()}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
