"""Fine-tune data and branch switching on one very long chat; prints one JSON object (a
benchmark, not a test).

    python bench/long_chats.py [--messages 10000] [--dir FOLDER]

- count: `distinct_counts` (what File > Fine-tune… shows) on one chat of `--messages`
  messages, every reply rated up;
- pairs: `load_pairs` of every kind as `main.py finetune` reads them (contexts of the shipped
  model's 3 turns where the code takes a bound);
- switch: `choose_alternative` between the two branches, each `--messages` deep, of one edited
  turn.

Each runs in a fresh child process: seconds, and the peak resident memory it added (MB).
Issue 26 measured 49 s and 2.86 GB for the count before the fix.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chatapp.store import Store  # noqa: E402  (after the path fix, so a checkout runs as is)

CHILD = textwrap.dedent(
    """
    import inspect, json, resource, sys, time
    from chatapp.finetune.data import distinct_counts, load_pairs
    from chatapp.store import Store

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    what, db, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Store.open(db) as store:
        before, start = rss_mb(), time.perf_counter()
        if what == "count":
            result = sum(distinct_counts(store).values())
        elif what == "pairs":
            bounded = "max_context_turns" in inspect.signature(load_pairs).parameters
            extra = {"max_context_turns": 3} if bounded else {}
            result = len(load_pairs(store, ("corrected", "liked", "user"), **extra))
        else:
            result = store.choose_alternative(target).position
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 3), "peak_added_mb": round(peak - before, 1),
                      "result": result}))
    """
)


def _message(uid: str, position: int, text: str, follows: str | None, **fields) -> dict:
    return {
        "uid": uid, "position": position, "role": ("user", "bot")[position % 2], "text": text,
        "created_at": "2026-01-01T00:00:00", "chosen": True, "follows_uid": follows,
        "rating": position % 2, **fields,
    }  # fmt: skip


def long_chat(n: int) -> dict:
    """One chat of `n` messages, user and bot turns alternating, every reply rated up."""
    messages, follows = [], None
    for position in range(n):
        messages.append(_message(f"m{position}", position, f"turn number {position}", follows))
        follows = f"m{position}"
    return {"uid": "long", "title": "long", "created_at": "2026-01-01T00:00:00",
            "messages": messages}  # fmt: skip


def deep_branches(depth: int) -> dict:
    """A second turn edited once; each version continues `depth` messages deep."""
    messages = [_message("b0", 0, "hello", None), _message("b1", 1, "hi", "b0")]
    for branch, shown in (("x", False), ("y", True)):
        follows = "b1"
        for position in range(2, depth + 2):
            uid = f"{branch}{position}"
            messages.append(_message(uid, position, f"{branch} {position}", follows, chosen=shown))
            follows = uid
    messages.sort(key=lambda m: m["position"])
    return {"uid": "deep", "title": "deep", "created_at": "2026-01-01T00:00:00",
            "messages": messages}  # fmt: skip


def measure(what: str, db: Path, target: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, what, str(db), str(target)],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="long-chats-"))
    long_db, deep_db = folder / "long.db", folder / "deep.db"
    archive = {"format": "seq2seq-chat-archive", "version": 2}
    with Store.open(long_db) as store:
        store.import_archive({**archive, "conversations": [long_chat(args.messages)]})
    with Store.open(deep_db) as store:
        store.import_archive({**archive, "conversations": [deep_branches(args.messages)]})
        hidden = next(m for m in store.alternatives(store.page_messages(1, 2, 1)[0].id)
                      if not m.chosen)  # fmt: skip
    result = {
        "messages": args.messages,
        "count": measure("count", long_db, 0),
        "pairs": measure("pairs", long_db, 0),
        "switch": measure("switch", deep_db, hidden.id),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
