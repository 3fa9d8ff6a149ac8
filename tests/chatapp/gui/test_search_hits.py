"""Issue #24 item 7: search hits show their chat's title, date and a snippet with the term
emphasised (never "[raining]"), in a roomy list; the chat a hit opens highlights the term."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from chatapp.gui.message_model import HighlightRole, MessageIdRole
from chatapp.gui.search_results import (
    HIT_ROLE,
    highlight_stems,
    hit_date,
    snippet_parts,
    term_spans,
)
from chatapp.store import ARCHIVE_FORMAT, ARCHIVE_VERSION, Store
from tests.chatapp.gui.bare_window import open_bare_window, save_shot
from tests.chatapp.gui.menus import choose_from_menu

WHEN = datetime(2026, 11, 3, 15, 30, tzinfo=timezone.utc)


def chat(uid: str, title: str, texts: list[str]) -> dict[str, Any]:
    when = WHEN.isoformat()
    return {
        "uid": uid, "title": title, "created_at": when, "updated_at": when,
        "messages": [
            {"uid": f"11111111{uid[8:-2]}{n:02d}", "position": n, "text": text,
             "role": "user" if n % 2 == 0 else "bot", "created_at": when, "chosen": True}
            for n, text in enumerate(texts)
        ],
    }  # fmt: skip


def seed(store: Store) -> None:
    chats = [
        chat("00000000-0000-4000-8000-000000000100", "Weekend plans", [
            "What did you do at the weekend?", "I stayed in and read.",
            "It was [raining] all weekend here, so we stayed in too.", "Sounds cosy.",
        ]),
        chat("00000000-0000-4000-8000-000000000200", "Films", ["Seen any good films?", "No."]),
    ]  # fmt: skip
    store.import_archive(
        {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "conversations": chats}
    )


def yellow_in(image: QImage, rect: QRect) -> bool:
    """Some pixel of `rect` is the highlight's yellow (over any light background)."""
    for x in range(max(0, rect.left()), min(image.width(), rect.right()), 1):
        for y in range(max(0, rect.top()), min(image.height(), rect.bottom()), 2):
            color = image.pixelColor(x, y)
            if color.red() > 200 and color.green() > 170 and color.blue() < 130:
                return True
    return False


def test_a_hit_shows_title_date_and_emphasis_and_opens_with_the_term_highlighted(
    qtbot, store, tmp_path
):
    seed(store)
    window = open_bare_window(qtbot, store)
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.sidebar.search_edit
    with qtbot.waitSignal(window.chats.searcher.found, timeout=5000):
        qtbot.keyClicks(window.sidebar.search_edit, "rain")
    results = window.sidebar.results
    assert results.count() == 1
    item = results.item(0)
    hit = item.data(HIT_ROLE)
    text, spans = snippet_parts(hit.snippet)
    assert [text[start:end] for start, end in spans] == ["raining"]  # what is emphasised
    assert "It was [raining] all weekend" in text  # the message's own brackets, as typed
    assert item.text().startswith("Weekend plans\n") and "[[" not in item.text()
    assert hit_date(hit.created_at) == hit_date(WHEN) and hit_date(WHEN) in item.toolTip()
    # Roomy: a hit has room for its title and three lines of snippet, and the hits more room
    # than the chat list while they show.
    row = results.visualItemRect(item)
    assert row.height() >= 4 * results.fontMetrics().lineSpacing()
    assert results.height() > window.sidebar.list_view.height()
    assert yellow_in(results.viewport().grab().toImage(), row)  # the emphasis is painted
    save_shot(window, "search_hits.png", tmp_path)

    qtbot.mouseClick(results.viewport(), Qt.MouseButton.LeftButton, pos=row.center())
    assert window.controller.conversation_id == hit.conversation_id
    current = window.chat_view.currentIndex()
    assert current.data(MessageIdRole) == hit.message_id
    assert current.data(HighlightRole) == ("rain", "raining")  # typed, and as matched
    qtbot.mouseMove(window.composer)  # the pointer off the bubbles
    image = window.chat_view.viewport().grab().toImage()
    assert yellow_in(image, window.chat_view.visualRect(current))
    other = window.messages.index(current.row() - 1)  # no highlight where the term is not
    assert "rain" not in other.data()
    assert not yellow_in(image, window.chat_view.visualRect(other))
    window.chats.open(window.conversations.record(0).id)  # another chat: none
    assert window.messages.index(0).data(HighlightRole) == ()


def test_the_highlight_takes_whole_words_that_start_with_the_terms_in_any_case():
    text = "Rain? RAINY days, a brain, raining."
    spans = term_spans(text, highlight_stems("rain!", "a \ue000Rain\ue001?"))
    assert [text[start:end] for start, end in spans] == ["Rain", "RAINY", "raining"]


def test_the_hits_of_a_deleted_chat_go_and_come_back_with_undo(qtbot, store):
    seed(store)
    window = open_bare_window(qtbot, store)
    with qtbot.waitSignal(window.chats.searcher.found, timeout=5000):
        qtbot.keyClicks(window.sidebar.search_edit, "rain")
    results = window.sidebar.results
    chat = results.item(0).data(HIT_ROLE).conversation_id
    with qtbot.waitSignal(window.chats.searcher.found, timeout=5000):
        choose_from_menu(
            qtbot, window.sidebar.list_view, window.conversations.row_of(chat), "Delete…"
        )
    assert results.count() == 1 and results.item(0).data(HIT_ROLE) is None  # "No messages match."
    with qtbot.waitSignal(window.chats.searcher.found, timeout=5000):
        qtbot.mouseClick(window.banner.action_button, Qt.MouseButton.LeftButton)
    assert results.item(0).data(HIT_ROLE).conversation_id == chat
