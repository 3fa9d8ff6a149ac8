"""The window against damaged settings and heavy searches: it starts, stays responsive, and says
what it reset (docs/RELIABILITY.md, "Window")."""

from __future__ import annotations

import threading

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QPlainTextEdit

from chatapp.gui.app import make_application
from chatapp.gui.details_dialog import DetailsDialog
from chatapp.gui.search_results import snippet_parts
from chatapp.store import GenerationInfo, ReplyTimings
from chatapp.store.search import MAX_QUERY_CHARS, MAX_TERMS, fts_query
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS
from tests.robustness.helpers import open_window

DAMAGED = {
    "ui/font_size": "abc",
    "ui/theme": "42",
    "window/geometry": "garbage",
    "window/state": 7,
    "window/splitter": QByteArray(b"\x00not a splitter state"),
}


def test_damaged_settings_fall_back_to_defaults_and_the_user_is_told_once(
    qtbot, store, tiny_model_dir
):
    make_application()  # the app's own settings file (under its organisation name)
    settings = QSettings()
    for key, value in DAMAGED.items():
        settings.setValue(key, value)
    settings.sync()

    make_application()  # reads the theme and the font size
    window = open_window(qtbot, store, tiny_model_dir)
    told = window.banner.text()
    assert "back to their defaults" in told and all(key in told for key in DAMAGED), told
    assert window.controller.model_ready
    settings = QSettings()
    assert [key for key in DAMAGED if settings.contains(key)] == []
    window.close()  # saves good values again

    make_application()
    again = open_window(qtbot, store, tiny_model_dir)
    assert "back to their defaults" not in again.banner.text()
    again.close()


def test_a_huge_search_query_is_bounded_to_a_few_distinct_words(store):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "hi there, w3 and w7")
    for query in (" ".join(f"w{i}" for i in range(500_000)), "hi " * 1000, "a" * 20_000):
        expression = fts_query(query) or ""
        assert expression.count('"') // 2 <= MAX_TERMS and len(expression) < 2 * MAX_QUERY_CHARS
    assert [hit.conversation_id for hit in store.search("hi " * 1000)] == [conversation.id]
    assert [hit.conversation_id for hit in store.search("W3 w3 w7 " * 5000)] == [conversation.id]
    assert store.search("a\ud800b") == []  # a lone surrogate is a character like any other


def test_search_runs_off_the_gui_thread_and_a_newer_query_supersedes_older_ones(
    qtbot, fast, store, monkeypatch
):
    for word in ("apple", "banana", "cherry"):
        store.add_user_turn(store.create_conversation().id, f"a {word} a day")
    real_search, threads, release = store.search, [], threading.Event()

    def slow_search(query, *args, **kwargs):
        threads.append(threading.current_thread())
        if query == "apple":
            release.wait(10)  # the first search is still running when the others come
        return real_search(query, *args, **kwargs)

    monkeypatch.setattr(store, "search", slow_search)
    shown: list[list] = []
    fast.chats.searcher.found.connect(shown.append)
    fast.chats.search("apple")
    qtbot.waitUntil(lambda: len(threads) == 1)
    fast.chats.search("banana")  # superseded before it starts
    with qtbot.waitSignal(fast.chats.searcher.found, timeout=REPLY_TIMEOUT_MS):
        fast.chats.search("cherry")
        release.set()
    # One search thread runs "apple" to its end before "cherry", and queued signals arrive in
    # the order sent: a late result of "apple" would be in `shown` before cherry's.
    assert [[snippet_parts(hit.snippet) for hit in hits] for hits in shown] == [
        [("a cherry a day", [(2, 8)])]
    ]
    assert threading.main_thread() not in threads and len(threads) == 2  # banana never ran
    assert "cherry" in fast.sidebar.results.item(0).text()


def test_details_of_a_reply_with_timings_of_the_wrong_type_still_open(qtbot, store):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "hello")
    timings = ReplyTimings(ttft_ms="fast", total_ms=10**400, tokens=[1], tokens_per_s=0.0)
    reply = store.add_bot_reply(
        conversation.id, "hi", GenerationInfo(timings=timings)
    )  # what an archive imported before the check could hold
    dialog = DetailsDialog(store.get_message(reply.id), "base")
    qtbot.addWidget(dialog)
    text = dialog.findChild(QPlainTextEdit, "detailsText").toPlainText()
    assert "Time to first token: 0 ms" in text and "Total time: 0 ms" in text
