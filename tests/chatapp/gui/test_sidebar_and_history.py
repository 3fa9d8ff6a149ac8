"""Issue #16, items 2, 11, 12 and 13 in the real window: the new chat, the sidebar's groups,
other programs' chats, the last chat used, corrections shown, chips, search, export, welcome."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect, QSettings, QStandardPaths, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QStyleOptionViewItem

from chatapp.gui import text_dialog
from chatapp.gui.conversation_model import (
    ArchivedRole,
    ConversationIdRole,
    ConversationListModel,
    DraftRole,
    GroupRole,
    PreviewRole,
    TimeRole,
)
from chatapp.gui.transfer import LAST_FOLDER_KEY
from chatapp.store import ARCHIVE_FORMAT, ARCHIVE_VERSION, Store
from tests.chatapp.gui.bare_window import save_shot
from tests.chatapp.gui.helpers import (
    REPLY_TIMEOUT_MS,
    click_chip,
    open_main_window,
    send_and_wait,
    settle,
)


def conversation(uid: str, title: str, days_ago: float, **flags: bool) -> dict[str, Any]:
    when = (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()
    return {
        "uid": uid, "title": title, "created_at": when, "updated_at": when, **flags,
        "messages": [
            {"uid": f"{uid}-0", "position": 0, "role": "user", "text": title, "created_at": when,
             "chosen": True},
            {"uid": f"{uid}-1", "position": 1, "role": "bot", "text": f"an answer to {title}",
             "created_at": when, "chosen": True},
        ],
    }  # fmt: skip


def import_conversations(store: Store, *conversations: dict[str, Any]) -> None:
    store.import_archive(
        {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "conversations": list(conversations)}
    )


def column(window: Any, role: int) -> list[Any]:
    return column_of(window.conversations, role)


# Item 2 --------------------------------------------------------------------------------------
def test_new_chat_is_selected_at_once_and_stored_only_when_its_first_turn_is_sent(
    qtbot, window, store
):
    send_and_wait(qtbot, window, "hello")
    window.composer.edit.setFocus()
    for _ in range(4):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert len(store.list_conversations()) == 1  # four presses, nothing stored
    assert window.conversations.rowCount() == 2  # one draft row
    current = window.sidebar.list_view.currentIndex()
    assert current.row() == 0 and current.data(DraftRole)
    assert window.sidebar.list_view.selectionModel().isSelected(current)
    assert window.messages.rowCount() == 0

    reply = send_and_wait(qtbot, window, "a new topic")
    assert len(store.list_conversations()) == 2
    assert not any(column(window, DraftRole))
    current = window.sidebar.list_view.currentIndex()
    assert (
        current.data(ConversationIdRole)
        == reply.conversation_id
        == window.controller.conversation_id
    )


# Item 11 -------------------------------------------------------------------------------------
def test_the_sidebar_groups_chats_by_date_with_time_preview_and_distinct_titles(
    qtbot, window, store, tmp_path
):
    import_conversations(
        store,
        conversation("p", "pinned plans", 30, pinned=True),
        *(conversation(f"hi{n}", "hi", n * 0.001) for n in range(3)),
        conversation("y", "yesterday's chat", 1.05),
        conversation("w", "last week", 4),
        conversation("o", "long ago", 40),
        conversation("a", "put away", 2, archived=True),
    )
    window.sidebar.archived_box.setChecked(True)
    window.chats.refresh()
    groups = [group for group in column(window, GroupRole) if group]
    assert groups[0] == "Pinned" and groups[-1] == "Older"
    assert {"Today", "Previous 7 days"} <= set(groups)
    titles = column(window, Qt.ItemDataRole.DisplayRole)
    assert sorted(t for t in titles if t.startswith("hi")) == ["hi", "hi (2)", "hi (3)"]
    assert "an answer to long ago" in column(window, PreviewRole)
    assert all(column(window, TimeRole))
    archived = column(window, ArchivedRole).index(True)
    index = window.conversations.index(archived)
    assert index.data(TimeRole).startswith("archived")
    assert index.data(Qt.ItemDataRole.FontRole).italic()
    window.resize(1100, 760)
    save_shot(window.sidebar, "sidebar_date_groups.png", tmp_path)


def test_chats_written_by_another_program_appear_without_a_restart(qtbot, window, store):
    send_and_wait(qtbot, window, "hello")
    # What `main.py chat --db` does: its own connection to the same file.
    with Store.open(store.path) as terminal:
        other = terminal.create_conversation()
        terminal.add_user_turn(other.id, "typed in a terminal")
    qtbot.waitUntil(lambda: window.conversations.rowCount() == 2, timeout=10_000)
    assert "typed in a terminal" in column(window, Qt.ItemDataRole.DisplayRole)


def test_the_last_chat_used_reopens_not_the_pinned_one(qtbot, store, tiny_model_dir):
    import_conversations(store, conversation("b", "used last", 3))
    import_conversations(store, conversation("a", "pinned and newer", 0, pinned=True))
    used = store.find_conversation("b").id
    window = open_main_window(qtbot, store, tiny_model_dir)
    row = window.conversations.row_of(used)
    rect = window.sidebar.list_view.visualRect(window.conversations.index(row))
    qtbot.mouseClick(
        window.sidebar.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
    )
    assert window.controller.conversation_id == used
    window.close()
    again = open_main_window(qtbot, store, tiny_model_dir)
    assert again.conversations.record(0).pinned
    assert again.controller.conversation_id == used
    again.close()


# Item 12 -------------------------------------------------------------------------------------
def test_a_saved_correction_shows_under_the_reply_and_the_counts_follow(
    qtbot, window, store, monkeypatch, tmp_path
):
    reply = send_and_wait(qtbot, window, "what is your name?")
    assert "0 corrected" in window.status_bar.teach_label.text()
    asked: list[str] = []

    def answer(*args: Any, **kwargs: Any) -> str:
        asked.append(args[3])
        return "my name is ada." if len(asked) == 1 else "my name is ada lovelace."

    monkeypatch.setattr(text_dialog, "ask_text", answer)
    click_chip(qtbot, window, 1, "correct")
    assert window.context.actions.wait_idle()  # the store is written off the GUI thread
    assert store.get_message(reply.id).corrected_text == "my name is ada."
    chips = dict(window.delegate.chips(window.messages.index(1)))
    assert chips["correct"] == "Edit correction…"
    qtbot.waitUntil(lambda: "1 corrected" in window.status_bar.teach_label.text())
    window.chat_view.setCurrentIndex(window.messages.index(1))
    save_shot(window.chat_view, "corrected_reply.png", tmp_path)

    click_chip(qtbot, window, 1, "correct")  # editable: the dialog starts from the correction
    assert asked[1] == "my name is ada."
    assert window.context.actions.wait_idle()
    assert store.get_message(reply.id).corrected_text == "my name is ada lovelace."

    second = send_and_wait(qtbot, window, "hello")
    click_chip(qtbot, window, 3, "like")
    assert window.context.actions.wait_idle()
    assert store.get_message(second.id).rating == 1
    qtbot.waitUntil(lambda: "1 liked" in window.status_bar.teach_label.text())


# Item 13 -------------------------------------------------------------------------------------
def _blank(image: QImage, rect: QRect) -> bool:
    colors = {
        image.pixelColor(x, y).rgb()
        for x in range(rect.left(), rect.right(), 2)
        for y in range(rect.top(), rect.bottom(), 2)
    }
    return len(colors) == 1


def test_chips_show_for_the_selected_reply_and_follow_the_keyboard(qtbot, window):
    send_and_wait(qtbot, window, "hello")
    send_and_wait(qtbot, window, "how are you")
    view = window.chat_view

    def copy_chip(row: int) -> QRect:
        option = QStyleOptionViewItem()
        view.initViewItemOption(option)
        option.rect = view.visualRect(window.messages.index(row))
        return window.delegate.chip_center(option, window.messages.index(row), "copy")

    view.setFocus()
    view.setCurrentIndex(window.messages.index(1))
    qtbot.mouseMove(window.composer)  # no row under the mouse
    image = view.viewport().grab().toImage()
    assert not _blank(image, copy_chip(1))  # the selected reply's chips are drawn
    assert _blank(image, copy_chip(3))  # the other reply's are not
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.currentIndex().row() == 3
    image = view.viewport().grab().toImage()
    assert _blank(image, copy_chip(1)) and not _blank(image, copy_chip(3))
    rect = view.visualRect(window.messages.index(1))
    qtbot.mouseMove(view.viewport(), QPoint(rect.left() + 20, rect.top() + 15))  # hover row 1
    qtbot.waitUntil(lambda: not _blank(view.viewport().grab().toImage(), copy_chip(1)))
    menu = window.chip_menu(QPoint(-1, -1))  # the menu key: the current row's chips
    assert "Regenerate" in [action.text() for action in menu.actions()]
    menu.close()


def test_search_updates_as_you_type(qtbot, window, store):
    other = store.create_conversation()
    store.add_user_turn(other.id, "I saw a purple elephant yesterday")
    with qtbot.waitSignal(window.chats.searcher.found, timeout=5000):
        qtbot.keyClicks(window.sidebar.search_edit, "eleph")  # no Enter
    assert window.sidebar.results.isVisible()
    assert "elephant" in window.sidebar.results.item(0).text()


def test_export_starts_in_documents_then_the_last_folder_with_the_title(
    qtbot, window, store, tmp_path, monkeypatch
):
    send_and_wait(qtbot, window, "Plans: for/the weekend?")
    offered: list[str] = []
    target = tmp_path / "exports"
    target.mkdir()

    def save_as(parent: Any, caption: str, path: str, filters: str) -> tuple[str, str]:
        offered.append(path)
        return str(target / "saved.md"), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    QSettings().remove(LAST_FOLDER_KEY)
    window.menus.export_conversation("markdown")
    settle(qtbot, window)  # the export is written off the GUI thread
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    assert Path(offered[0]) == Path(documents) / "Plans for the weekend.md"
    assert (target / "saved.md").is_file()
    window.menus.export_conversation("json")
    assert Path(offered[1]) == target / "Plans for the weekend.json"


def test_a_first_launch_shows_a_welcome_with_openers(qtbot, window, store, tmp_path):
    assert window.welcome.isVisible() and not window.chat_view.isVisible()
    save_shot(window, "welcome.png", tmp_path)
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(window.welcome.buttons[0], Qt.MouseButton.LeftButton)
    assert not window.welcome.isVisible() and window.chat_view.isVisible()
    assert store.history(window.controller.conversation_id)[0] == "Hi! How are you today?"


def test_the_grouped_list_with_a_draft_passes_qtmodeltester(qtmodeltester, qtbot, store):
    import_conversations(
        store, conversation("p", "pinned", 9, pinned=True), conversation("t", "today", 0)
    )
    model = ConversationListModel()
    model.set_records(store.list_conversations())
    model.set_draft(True)
    qtmodeltester.check(model)
    assert column_of(model, GroupRole) == ["", "Pinned", "Today"]
    assert model.row_of(None) == 0 and model.index(0).data(ConversationIdRole) is None
    model.set_draft(False)
    assert model.rowCount() == 2 and model.record(0).title == "pinned"


def column_of(model: ConversationListModel, role: int) -> list[Any]:
    return [model.index(row).data(role) for row in range(model.rowCount())]
