"""Conversations, search, export/import, list models and a screenshot."""

from __future__ import annotations

from PySide6.QtCore import Qt

from chatapp.gui.conversation_model import (
    ConversationIdRole,
    ConversationListModel,
    PinnedRole,
)
from chatapp.gui.message_model import MAX_LOADED_ROWS, PAGE_SIZE, MessageListModel
from chatapp.gui.transfer import export_conversation, import_archive_file
from chatapp.store import Store
from tests.chatapp.gui.helpers import send_and_wait, settle


def test_search_finds_a_message_in_another_conversation(qtbot, window, store):
    other = store.create_conversation()
    store.add_user_turn(other.id, "I saw a purple elephant yesterday")
    window.chats.new()
    window.chats.refresh()
    qtbot.keyClicks(window.sidebar.search_edit, "elephant")
    with qtbot.waitSignal(window.chats.searcher.found):  # the search runs off the GUI thread
        qtbot.keyClick(window.sidebar.search_edit, Qt.Key.Key_Return)
    results = window.sidebar.results
    assert results.isVisible() and results.count() == 1
    assert "elephant" in results.item(0).text()
    results.itemClicked.emit(results.item(0))
    assert window.controller.conversation_id == other.id
    assert window.chat_view.currentIndex().data() == "I saw a purple elephant yesterday"


def test_export_writes_a_file_that_imports_back(qtbot, window, store, tmp_path):
    send_and_wait(qtbot, window, "Remember this conversation")
    path = tmp_path / "conversation.json"
    export_conversation(window.store, window.controller.conversation_id, "json", path)
    markdown = tmp_path / "conversation.md"
    export_conversation(window.store, window.controller.conversation_id, "markdown", markdown)
    assert "Remember this conversation" in markdown.read_text(encoding="utf-8")
    other = Store.open(tmp_path / "other.db")
    try:
        other.import_archive(__import__("json").loads(path.read_text(encoding="utf-8")))
        imported = other.list_conversations()[0]
        assert other.history(imported.id) == store.history(window.controller.conversation_id)
    finally:
        other.close()
    # Importing into the same store again adds nothing.
    message = import_archive_file(window.store, path)
    assert "Imported 0 conversations" in message
    assert len(store.list_conversations()) == 1


def test_conversation_menu_actions(qtbot, window, store, monkeypatch):
    send_and_wait(qtbot, window, "pin me")
    conversation = window.controller.conversation_id
    with qtbot.waitSignal(window.context.actions.changed):  # written off the GUI thread
        window.sidebar.pin_requested.emit(conversation, True)
    assert store.get_conversation(conversation).pinned
    first = window.conversations.index(0)
    assert first.data(PinnedRole) and not first.data(Qt.ItemDataRole.DecorationRole).isNull()
    assert "📌" not in first.data()  # a drawn icon: an emoji is a box without an emoji font
    with qtbot.waitSignal(window.context.actions.changed):
        window.sidebar.archive_requested.emit(conversation, True)
    assert window.conversations.rowCount() == 0
    window.sidebar.archived_box.setChecked(True)
    assert window.conversations.rowCount() == 1
    window.chats.delete(conversation)  # no question: it can be undone
    assert window.conversations.rowCount() == 0  # gone from the window at once
    assert window.messages.rowCount() == 0
    assert window.banner.action_button.text() == "Undo"
    qtbot.mouseClick(window.banner.action_button, Qt.MouseButton.LeftButton)
    (restored,) = store.list_conversations(include_archived=True)
    assert store.history(restored.id)[0] == "pin me" and restored.pinned and restored.archived
    assert window.controller.conversation_id == restored.id
    assert window.sidebar.list_view.currentIndex().data(ConversationIdRole) == restored.id


def stored_conversation(store, messages: int) -> int:
    conversation = store.create_conversation()
    for number in range(messages):
        store.add_user_turn(conversation.id, f"message {number}")
    return conversation.id


def opened_model(store, messages: int) -> MessageListModel:
    model = MessageListModel(store)
    model.load_conversation(stored_conversation(store, messages))
    return model


def test_long_conversations_page_in(qtbot, store):
    model = opened_model(store, 250)
    assert model.rowCount() == PAGE_SIZE
    assert model.index(PAGE_SIZE - 1).data() == "message 249"
    assert model.has_older() and not model.canFetchMore()  # Qt's views never page it all in
    model.fetch_older()
    assert model.rowCount() == 2 * PAGE_SIZE
    model.fetch_older()
    assert model.rowCount() == 250 and not model.has_older()
    assert model.index(0).data() == "message 0"


def test_dropped_rows_page_back_in(qtbot, store):
    model = opened_model(store, 250)
    model.fetch_older()
    model.drop_oldest(150)
    assert model.rowCount() == 50 and model.index(0).data() == "message 200"
    model.fetch_older()
    assert model.rowCount() == 150 and model.index(0).data() == "message 100"
    model.begin_reply()  # a live row is never dropped, even when asked for every row
    model.drop_oldest(1_000)
    assert model.rowCount() == 1 and model.item(0).state == "thinking"


def test_reading_at_the_bottom_of_a_long_conversation_keeps_few_rows(qtbot, window, store):
    window.chats.open(stored_conversation(store, MAX_LOADED_ROWS))
    view, model = window.chat_view, window.messages
    while model.has_older():  # the user scrolled all the way up…
        view.verticalScrollBar().setValue(view.verticalScrollBar().minimum())
    assert model.rowCount() == MAX_LOADED_ROWS
    view.scrollToBottom()  # …and back down, then chats on
    reply = send_and_wait(qtbot, window, "still here?")
    qtbot.waitUntil(lambda: model.rowCount() <= MAX_LOADED_ROWS)
    assert model.item(model.rowCount() - 1).record.id == reply.id
    assert model.has_older()
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())  # still at the newest message
    bar.setValue(bar.minimum())  # scrolling up reads the older page back
    assert model.rowCount() > PAGE_SIZE + 2


def test_list_models_pass_qtmodeltester(qtmodeltester, qtbot, window, store):
    send_and_wait(qtbot, window, "model test")
    qtmodeltester.check(window.messages)
    conversations = ConversationListModel()
    conversations.set_records(store.list_conversations())
    qtmodeltester.check(conversations)


def test_screenshot_of_a_short_conversation(qtbot, window, tmp_path):
    send_and_wait(qtbot, window, "Hi! How are you today?")
    send_and_wait(qtbot, window, "What do you like to do?")
    path = tmp_path / "main_window.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10_000


def test_details_show_the_nbest_list_and_the_attention_map(qtbot, window, store):
    from chatapp.gui.attention_view import AttentionView
    from engine.decoding.config import DecodeConfig

    # Beam search keeps an n-best list even on the tiny model, whose samples mostly agree.
    window.decoding_panel.set_config(DecodeConfig(strategy="beam", beam_size=5, n_best=5))
    reply = send_and_wait(qtbot, window, "What is your name?")
    assert reply.nbest and len(reply.nbest) > 1
    dialog = window.show_details(reply)
    qtbot.addWidget(dialog)
    assert dialog.nbest_list.count() == len(reply.nbest)
    qtbot.waitUntil(
        lambda: isinstance(dialog.attention_area.widget(), AttentionView), timeout=10_000
    )
    view = dialog.attention_area.widget()
    assert view.rows and view.columns and len(view.weights) == len(view.rows)
    # Picking another n-best entry makes it the reply the conversation continues from.
    dialog.nbest_list.setCurrentRow(1)
    dialog._use_selected()
    settle(qtbot, window)  # the alternative is stored off the GUI thread
    conversation = window.controller.conversation_id
    assert store.history(conversation)[-1] == reply.nbest[1]["text"]
    assert len(store.alternatives(reply.id)) == 2


def test_attention_of_an_older_reply_is_recomputed_by_the_engine(qtbot, window, store):
    from chatapp.gui.attention_view import AttentionView

    reply = send_and_wait(qtbot, window, "Do you like music?")
    window.controller.attention_cache.clear()
    dialog = window.show_details(reply)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(
        lambda: isinstance(dialog.attention_area.widget(), AttentionView), timeout=10_000
    )
    assert dialog.attention_area.widget().weights


def test_the_app_opens_on_the_shipped_model_and_chats(qtbot, tmp_path):
    from chatapp.gui.app import AppOptions, create_window, open_store

    options = AppOptions(data_dir=str(tmp_path / "data"), device="cpu")
    store = open_store(options)
    try:
        window = create_window(options, store)
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.context.switcher.model_ready, timeout=30_000):
            window.show()
        assert "base" in window.status_bar.model_label.text()
        reply = send_and_wait(qtbot, window, "Hello! How are you?")
        assert reply.text.strip()
        version = store.active_model_version()
        assert version is not None and version.is_base and reply.model_version_id == version.id
        window.close()
    finally:
        store.close()
