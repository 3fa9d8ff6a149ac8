"""Telling chats apart (issue 24, item 6): a duplicate title's "(2)" stays visible however the
title is cut (pin or not), and a branched turn shows its ‹ 1/2 › without being pointed at."""

from __future__ import annotations

from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem

from tests.chatapp.gui.bare_window import open_bare_window
from tests.chatapp.gui.test_stop_and_retry import away_from_the_chat, chip_rect, painted

TITLE = "what is the weather going to be like in paris this weekend"


class RecordingPainter(QPainter):
    """A painter onto an image that also keeps the texts drawn through it."""

    def __init__(self, image: QImage) -> None:
        super().__init__(image)
        self.texts: list[str] = []

    def drawText(self, *args: object) -> None:
        self.texts.extend(arg for arg in args if isinstance(arg, str))
        super().drawText(*args)


def test_a_duplicate_titles_number_is_never_cut_off(qtbot, store):
    first = store.create_conversation()
    store.add_user_turn(first.id, TITLE)
    second = store.create_conversation()
    store.add_user_turn(second.id, TITLE)
    store.pin_conversation(second.id)
    window = open_bare_window(qtbot, store, size=(800, 500))
    view = window.sidebar.list_view
    qtbot.waitUntil(lambda: window.conversations.rowCount() == 2)
    titles = []
    for row in range(window.conversations.rowCount()):
        index = window.conversations.index(row)
        option = QStyleOptionViewItem()
        view.initViewItemOption(option)
        option.rect = view.visualRect(index)
        image = QImage(view.viewport().size(), QImage.Format.Format_ARGB32)
        painter = RecordingPainter(image)
        view.itemDelegate().paint(painter, option, index)
        painter.end()
        title = next(text for text in painter.texts if text.startswith("what"))
        assert "…" in title, "the sidebar is narrow: the title is cut"
        titles.append(title)
    pinned = next(t for t in titles if t.endswith("(2)"))  # the pinned one is listed first
    assert titles[0] == pinned
    assert not titles[1].endswith(")")


def test_a_branched_turn_shows_its_arrows_without_hover(qtbot, store):
    conversation = store.create_conversation()
    turn = store.add_user_turn(conversation.id, "hello")
    store.add_bot_reply(conversation.id, "hi")
    store.edit_user_turn(turn.id, "hello again")
    window = open_bare_window(qtbot, store)
    window.chats.open(conversation.id)
    assert window.messages.item(0).text == "hello again"
    away_from_the_chat(qtbot, window)
    for action in ("previous", "counter", "next"):
        rect = chip_rect(window, 0, action)
        assert rect is not None and painted(window, rect), action
    copy = chip_rect(window, 0, "copy")
    assert copy is not None and not painted(window, copy)  # the others wait for the pointer
