"""Stopping a reply under the default strategy (issue 24, item 4): rerank shows nothing until
its candidates are scored, so the bubble says it is at work; Esc then leaves the turn marked as
stopped, with a Retry chip that asks again."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QStyleOptionViewItem

from chatapp.gui.main_window import MainWindow
from chatapp.gui.message_delegate import STOPPED_MARK, STOPPED_TEXT, display_text
from chatapp.gui.message_model import StateRole
from tests.chatapp.gui.bare_window import save_shot
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, click_chip

SLOW_RERANK = {"strategy": "rerank", "candidates": 16, "min_length": 200, "max_length": 200}


def chip_rect(window: MainWindow, row: int, action: str) -> QRect | None:
    view = window.chat_view
    index = window.messages.index(row)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(index)
    return window.delegate.chip_center(option, index, action)


def painted(window: MainWindow, rect: QRect) -> bool:
    """Whether anything is drawn inside `rect` of the chat view (not just its background)."""
    image: QImage = window.chat_view.viewport().grab().toImage()
    background = QColor(image.pixel(2, 2))
    return any(
        QColor(image.pixel(x, y)) != background
        for x in range(rect.left() + 2, rect.right() - 1)
        for y in range(rect.top() + 2, rect.bottom() - 1)
    )


def away_from_the_chat(qtbot, window: MainWindow) -> None:
    """The pointer on the composer and nothing selected: no row is hovered or current."""
    qtbot.mouseMove(window.composer.edit)
    window.chat_view.clearSelection()
    window.chat_view.setCurrentIndex(window.messages.index(-1))
    window.composer.edit.setFocus()


def test_esc_during_a_rerank_reply_marks_the_turn_stopped_and_retry_answers_it(
    qtbot, window, store, tmp_path: Path
):
    panel = window.decoding_panel
    panel.set_config(panel.config.replace(**SLOW_RERANK))
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClicks(window.composer.edit, "Tell me a long story")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    # While the candidates are drawn and scored the bubble says so (and counts seconds).
    qtbot.waitUntil(
        lambda: (
            window.messages.rowCount() == 2
            and window.messages.item(1).text.startswith("Writing 16 candidate replies")
        ),
        timeout=REPLY_TIMEOUT_MS,
    )
    assert window.messages.index(1).data() != "thinking…"
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=REPLY_TIMEOUT_MS)

    conversation = window.controller.conversation_id
    assert store.history(conversation) == ["Tell me a long story"]  # no unscored candidate kept
    assert window.messages.rowCount() == 2
    assert window.messages.index(1).data(StateRole) == "stopped"
    assert window.delegate.chips(window.messages.index(1)) == [("retry", "Retry")]
    away_from_the_chat(qtbot, window)
    retry = chip_rect(window, 1, "retry")
    assert retry is not None and painted(window, retry), "Retry shows without pointing at it"
    save_shot(window, "stopped_turn.png", tmp_path)
    assert display_text("", "stopped") == STOPPED_TEXT

    panel.set_config(panel.config.replace(min_length=1, max_length=8, candidates=4))
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as stored:
        click_chip(qtbot, window, 1, "retry")
    reply = stored.args[0]
    assert store.history(conversation) == ["Tell me a long story", reply.text]
    assert window.messages.rowCount() == 2
    assert window.messages.index(1).data(StateRole) == "stored"
    assert not reply.stopped


def test_a_stopped_streamed_reply_is_marked_and_offers_retry_without_hover(qtbot, window, store):
    panel = window.decoding_panel
    panel.set_config(panel.config.replace(strategy="sample", min_length=200, max_length=200))
    window.engine.token_generated.connect(lambda *_: window.controller.stop())
    qtbot.keyClicks(window.composer.edit, "Tell me a long story")
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    window.engine.token_generated.disconnect()
    first = blocker.args[0]
    assert first.stopped
    chips = dict(window.delegate.chips(window.messages.index(1)))
    assert chips.get("retry") == "Retry" and "regenerate" not in chips
    away_from_the_chat(qtbot, window)
    retry = chip_rect(window, 1, "retry")
    assert retry is not None and painted(window, retry)
    details = chip_rect(window, 1, "details")
    assert details is not None and not painted(window, details)  # the rest wait for the pointer
    option = QStyleOptionViewItem()
    window.chat_view.initViewItemOption(option)
    option.rect = window.chat_view.visualRect(window.messages.index(1))
    bubble = window.delegate._bubble_rect(option, window.messages.index(1))
    beside = QRect(bubble.right() + 4, bubble.top(), 120, bubble.height())
    assert painted(window, beside), f"{STOPPED_MARK} shows beside the bubble"

    panel.set_config(panel.config.replace(min_length=1, max_length=8))
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as again:
        click_chip(qtbot, window, 1, "retry")
    assert [a.id for a in store.alternatives(first.id)] == [first.id, again.args[0].id]
