"""A very long chat (issue 26, item 2): counting and reading its training pairs, and switching
to a 10,000-deep branch, take memory that grows with its length, not its square (timings:
`bench/long_chats.py`). The counts are read off the GUI thread (`gui/teach_counts.py`, tested
in `tests/chatapp/finetune/test_teach_counts.py`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bench.long_chats import deep_branches, long_chat
from chatapp.store import Store
from tests.robustness.helpers import spawn

MESSAGES = 10_000
ARCHIVE = {"format": "seq2seq-chat-archive", "version": 2}

# Under a cap of 300 MB more heap than it had on opening the database: before the fix the
# count alone took 2.2 GB (and 200 s on a busy 2-core machine).
CAPPED_CHILD = textwrap.dedent(
    """
    import resource, sys
    from chatapp.finetune.data import distinct_counts, load_pairs
    from chatapp.store import Store

    def heap_bytes():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmData:"))
        return int(line.split()[1]) * 1024

    with Store.open(sys.argv[1]) as long, Store.open(sys.argv[2]) as deep:
        cap = heap_bytes() + 300 * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
        print({str(kind): count for kind, count in distinct_counts(long).items()})
        pairs = load_pairs(long, ("liked", "user"), max_context_turns=3)
        print(len(pairs), max(len(pair.context) for pair in pairs))
        shown = deep.choose_alternative(int(sys.argv[3]))
        print(shown.text, deep.message_count(1), deep.last_messages(1, 1)[0].text, flush=True)
    """
)


@pytest.fixture(scope="module")
def long_dbs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """A 10,000-message chat (every reply rated up), and a chat whose second turn was edited
    once, each version continued 10,000 messages deep; and the id of the hidden version."""
    folder = tmp_path_factory.mktemp("long")
    with Store.open(folder / "long.db") as store:
        store.import_archive({**ARCHIVE, "conversations": [long_chat(MESSAGES)]})
    with Store.open(folder / "deep.db") as store:
        store.import_archive({**ARCHIVE, "conversations": [deep_branches(MESSAGES)]})
        hidden = store.alternatives(store.page_messages(1, 2, 1)[0].id)[0]
        assert not hidden.chosen and hidden.text == "x 2"
    return folder / "long.db", folder / "deep.db", hidden.id


def test_a_ten_thousand_message_chat_is_counted_read_and_switched_in_bounded_memory(long_dbs):
    long_db, deep_db, hidden = long_dbs
    child = spawn(CAPPED_CHILD, str(long_db), str(deep_db), str(hidden))
    try:
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err[-2000:]
    counts, pairs, switched = out.splitlines()
    assert counts == "{'corrected': 0, 'liked': 5000, 'user': 4999}"
    assert pairs == "9999 3"  # every pair, each with the 3 turns the model reads
    # The whole hidden branch is shown now, to its last message.
    assert switched == f"x 2 {MESSAGES + 2} x {MESSAGES + 1}"
