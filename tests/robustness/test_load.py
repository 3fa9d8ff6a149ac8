"""Load: a thousand conversations, a 10,000-message conversation, 200 turns sent at once."""

from __future__ import annotations

import sys
import time
import uuid

from chatapp.gui.message_model import MAX_LOADED_ROWS, PAGE_SIZE, StateRole
from chatapp.store import ARCHIVE_FORMAT, ARCHIVE_VERSION, Store
from tests.database_checks import integrity
from tests.robustness.helpers import open_window, send_through_controller

STAMP = "2024-01-01T00:00:00+00:00"
BIG = 10_000
CONVERSATIONS = 1_000


def _message(position: int, text: str) -> dict:
    return {
        "uid": str(uuid.uuid4()), "position": position,
        "role": "user" if position % 2 == 0 else "bot", "text": text, "created_at": STAMP,
        "parent_uid": None, "chosen": True, "rating": 0, "corrected_text": None,
        "stopped": False, "model_version": None, "decoding": None, "seed": None,
        "timings": None, "nbest": None,
    }  # fmt: skip


def _conversation(title: str, texts: list[str], *, pinned: bool = False) -> dict:
    return {
        "uid": str(uuid.uuid4()), "title": title, "created_at": STAMP, "updated_at": STAMP,
        "pinned": pinned, "archived": False,
        "messages": [_message(position, text) for position, text in enumerate(texts)],
    }  # fmt: skip


def fill(store: Store) -> None:
    """1,000 conversations in one transaction (an import): the big one pinned on top."""
    big = [f"message {n}" for n in range(BIG)]
    big[17] += " needle"  # the one search hit, deep in the history
    conversations = [
        _conversation("big", big, pinned=True),
        *(_conversation(f"chat {n}", [f"hi {n}", "hello"]) for n in range(CONVERSATIONS - 1)),
    ]
    store.import_archive(
        {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "exported_at": STAMP,
         "conversations": conversations}
    )  # fmt: skip


def test_a_thousand_conversations_and_a_ten_thousand_message_one(qtbot, store, tiny_model_dir):
    fill(store)
    started = time.perf_counter()
    window = open_window(qtbot, store, tiny_model_dir)  # opens the pinned big one
    opened_s = time.perf_counter() - started
    assert window.conversations.rowCount() == CONVERSATIONS
    assert window.conversations.record(0).title == "big"
    messages = window.messages
    assert messages.rowCount() == PAGE_SIZE  # only the last page is read
    assert messages.item(PAGE_SIZE - 1).text == f"message {BIG - 1}"
    assert opened_s < 10, f"opening took {opened_s:.1f} s"

    view, bar = window.chat_view, window.chat_view.verticalScrollBar()
    view.doItemsLayout()
    for page in range(2, 5):  # scrolling to the top pages older ones in
        bar.setValue(bar.minimum())
        assert messages.rowCount() == page * PAGE_SIZE
        assert messages.item(0).text == f"message {BIG - page * PAGE_SIZE}"
        # The oldest message before the fetch stays at the top, so scrolling up goes on.
        assert view.indexAt(view.viewport().rect().topLeft()).row() == PAGE_SIZE
        assert bar.value() > bar.minimum()
    rows = [messages.item(row).text for row in range(messages.rowCount())]
    assert rows == [f"message {n}" for n in range(BIG - 4 * PAGE_SIZE, BIG)]

    # Another conversation, the search, and a jump deep into the big one.
    window.chats.open(window.conversations.record(500).id)
    assert messages.rowCount() == 2
    window.chats.search("needle")
    (hit,) = store.search("needle")
    window.chats.jump_to_hit(hit)  # pages in everything after it
    assert view.currentIndex().data() == "message 17 needle"
    assert messages.rowCount() == BIG  # pages down to position 0 were read
    window.close()
    assert integrity(store.path) == "ok"


def test_two_hundred_turns_sent_at_once_queue_and_are_answered_in_order(
    qtbot, store, tiny_model_dir
):
    window = open_window(qtbot, store, tiny_model_dir)
    texts = [f"turn {n}" for n in range(200)]
    for text in texts:
        assert window.controller.send(text)
    rows = range(window.messages.rowCount())
    states = [window.messages.index(row).data(StateRole) for row in rows]
    assert states.count("queued") == 199  # shown greyed, waiting their turn
    qtbot.waitUntil(
        lambda: not window.controller.busy and window.controller.queued == 0, timeout=180_000
    )
    history = store.history(window.controller.conversation_id)
    assert len(history) == 400
    assert history[0::2] == texts  # every turn, in the order sent
    records = store.page_messages(window.controller.conversation_id, 0, 400)
    assert [record.role for record in records] == ["user", "bot"] * 200
    shown = window.messages
    assert shown.rowCount() <= MAX_LOADED_ROWS  # read at the bottom: the oldest pages let go
    assert shown.item(shown.rowCount() - 1).text == history[-1]
    while shown.has_older():  # what scrolling to the top does, page by page
        shown.fetch_older()
    assert shown.rowCount() == 400
    assert {shown.item(row).state for row in range(400)} == {"stored"}
    assert [shown.item(row).text for row in range(0, 400, 2)] == texts
    window.close()
    assert integrity(store.path) == "ok"


def test_painting_and_chatting_do_not_wear_out_the_reference_count_of_none(qtbot, fast):
    # PySide6 6.12.0 under Python < 3.12 drops a reference to None on each void Qt call
    # (setItalic, setAlpha, drawRoundedRect…): None's count fell ~16 per bubble painted and the
    # app died ("Fatal Python error: none_dealloc") after minutes of chatting. On 3.12+ None
    # is immortal and its count never moves.
    for text in ("one", "two", "three"):
        send_through_controller(qtbot, fast, text)
    viewport = fast.chat_view.viewport()
    before = sys.getrefcount(None)
    for _ in range(50):
        viewport.repaint()
    lost = before - sys.getrefcount(None)
    assert lost < 500, f"{lost} references to None lost in 50 repaints: see pyproject.toml"
