"""Crashes and concurrency: a killed writer loses nothing it committed; threads don't collide."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from chatapp.store import Store

REPO = Path(__file__).resolve().parents[3]

WRITER = """
import sys
from chatapp.store import Store

store = Store.open(sys.argv[1])
conversation = store.create_conversation()
print("conversation", conversation.id, flush=True)
for index in range(1000):
    message = store.add_user_turn(conversation.id, f"turn {index} " + "x" * (index % 300))
    print(message.id, index, flush=True)  # only after the commit returned
"""


def test_killing_a_writer_mid_stream_loses_no_committed_turn(db_path, integrity_check):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    header = child.stdout.readline().split()
    assert header[0] == "conversation", header
    committed: dict[int, int] = {}
    while len(committed) < 120:
        line = child.stdout.readline()
        assert line, "the writer stopped before it was killed"
        message_id, index = map(int, line.split())
        committed[message_id] = index
    child.kill()  # SIGKILL: no cleanup, no atexit, mid-transaction
    rest, _ = child.communicate()
    for line in rest.splitlines():
        message_id, index = map(int, line.split())
        committed[message_id] = index
    assert child.returncode != 0 and len(committed) < 1000, "killed too late to test anything"

    assert integrity_check(db_path) == "ok"
    with Store.open(db_path) as store:
        stored = {m.id: m.text for m in store.page_messages(int(header[1]), 0, 1000)}
    for message_id, index in committed.items():
        assert stored[message_id] == f"turn {index} " + "x" * (index % 300)
    # At most the turn in flight got committed without being reported.
    assert len(stored) - len(committed) in (0, 1)


def test_two_threads_write_concurrently_without_losing_or_colliding(store):
    shared = store.create_conversation().id
    per_thread = 60
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            own = store.create_conversation(name).id
            start.wait()
            for index in range(per_thread):
                store.add_user_turn(shared, f"{name} {index}")
                store.add_user_turn(own, f"{name} own {index}")
                store.list_conversations()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    path = store.page_messages(shared, 0, 1000)
    assert [m.position for m in path] == list(range(2 * per_thread))
    for name in ("left", "right"):
        # Each thread's turns are all there, in the order it wrote them.
        assert [m.text for m in path if m.text.startswith(name)] == [
            f"{name} {index}" for index in range(per_thread)
        ]
    counts = {c.title: c.message_count for c in store.list_conversations()}
    assert counts["left"] == counts["right"] == per_thread
