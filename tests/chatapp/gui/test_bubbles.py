"""Chat bubbles as a person sees them: multi-line text, alternatives, the edit dialog, chips."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QPlainTextEdit,
    QStyleOptionViewItem,
)

from chatapp.gui.main_window import MainWindow
from tests.chatapp.gui.bare_window import open_bare_window, save_shot

TWO_LINES = "line one\nline two"
BLANK_LINE = "line one\n\nline three"


def option_for(window: MainWindow, row: int) -> QStyleOptionViewItem:
    view = window.chat_view
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(window.messages.index(row))
    return option


def bubble(window: MainWindow, row: int) -> QRect:
    return window.delegate._bubble_rect(option_for(window, row), window.messages.index(row))


def text_bands(image: QImage, rect: QRect) -> int:
    """How many separate bands of text a bubble shows (a line of text is one band)."""
    fill = image.pixelColor(rect.left() + 3, rect.center().y()).lightness()
    bands, inside = 0, False
    for y in range(rect.top() + 2, rect.bottom() - 1):
        ink = any(
            abs(image.pixelColor(x, y).lightness() - fill) > 60
            for x in range(rect.left() + 4, rect.right() - 4)
        )
        bands += ink and not inside
        inside = ink
    return bands


def shown_bands(window: MainWindow, row: int) -> int:
    """The bands of text in row `row`'s bubble, scrolled into view."""
    window.chat_view.scrollTo(
        window.messages.index(row), QAbstractItemView.ScrollHint.PositionAtTop
    )
    return text_bands(window.chat_view.viewport().grab().toImage(), bubble(window, row))


def conversation_window(qtbot, store, *texts: str) -> MainWindow:
    conversation = store.create_conversation()
    for text in texts:
        store.add_user_turn(conversation.id, text)
    window = open_bare_window(qtbot, store)
    window.chats.open(conversation.id)
    qtbot.waitUntil(lambda: window.chat_view.visualRect(window.messages.index(0)).height() > 0)
    return window


def test_shift_enter_lines_show_on_their_own_lines_and_size_the_bubble(qtbot, store, tmp_path):
    window = conversation_window(qtbot, store, "line one", TWO_LINES, BLANK_LINE, "x " * 400)
    line = window.chat_view.fontMetrics().lineSpacing()
    one = bubble(window, 0).height()
    assert bubble(window, 1).height() == one + line
    assert bubble(window, 2).height() == one + 2 * line  # the blank line keeps its room
    long_bubble = bubble(window, 3)
    assert long_bubble.height() > one + 3 * line  # a very long line wraps…
    assert long_bubble.right() <= window.chat_view.viewport().width()  # …inside the view
    assert shown_bands(window, 0) == 1
    assert shown_bands(window, 1) == 2  # not "line oneline two"
    assert shown_bands(window, 2) == 2
    save_shot(window, "bubbles_multiline.png", tmp_path)


def test_a_multi_line_alternative_is_shown_on_its_lines(qtbot, store):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "hello")
    reply = store.add_bot_reply(conversation.id, "hi")
    store.add_alternative(reply.id, "first line\nsecond line\nthird line")
    window = open_bare_window(qtbot, store)
    window.chats.open(conversation.id)
    row = window.messages.rowCount() - 1
    assert window.messages.index(row).data() == "first line\nsecond line\nthird line"
    assert shown_bands(window, row) == 3


def test_the_edit_dialog_shows_every_line_of_the_turn(qtbot, store):
    window = conversation_window(qtbot, store, BLANK_LINE)
    shown: list[str] = []

    def read_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, read_dialog)
            return
        shown.append(dialog.findChild(QPlainTextEdit).toPlainText())
        dialog.reject()

    QTimer.singleShot(0, read_dialog)
    rect = window.delegate.chip_center(option_for(window, 0), window.messages.index(0), "edit")
    qtbot.mouseClick(window.chat_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: bool(shown))
    assert shown == [BLANK_LINE]


def test_at_the_largest_font_every_chip_of_a_reply_with_alternatives_can_be_clicked(
    qtbot, store, tmp_path
):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "hello")
    reply = store.add_bot_reply(conversation.id, "hi")
    store.add_alternative(reply.id, "hello there")
    window = open_bare_window(qtbot, store, size=(900, 600))
    window.chats.open(conversation.id)
    window.menus.appearance.font_actions[16].trigger()  # View › Font size › 16
    qtbot.waitUntil(lambda: window.chat_view.font().pointSize() == 16)
    row = window.messages.rowCount() - 1
    index = window.messages.index(row)
    window.chat_view.scrollTo(index)
    option = option_for(window, row)
    viewport = window.chat_view.viewport().rect()
    chips = window.delegate._chip_rects(option, index)
    assert {action for action, _, _ in chips} >= {"details", "previous", "next", "correct"}
    for action, _, rect in chips:
        assert viewport.contains(rect), action
        assert option.rect.contains(rect), action  # inside its row: painted and clickable
    picked: list[str] = []
    window.delegate.action_triggered.connect(lambda action, _row: picked.append(action))
    details = window.delegate.chip_center(option, index, "details")
    qtbot.mouseClick(
        window.chat_view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(details.center())
    )
    assert picked == ["details"]
    assert window._details is not None and window._details.isVisible()
    window._details.close()
    save_shot(window, "bubbles_larger_font.png", tmp_path)
