"""Delete → Undo in the window brings a chat back with every field of every message, checked
value by value against what was seeded (#27 item 6)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from chatapp.store import Store
from tests.chatapp.gui.bare_window import open_bare_window
from tests.chatapp.gui.helpers import settle
from tests.chatapp.gui.menus import choose_from_menu
from tests.chatapp.store.every_field import TITLE, assert_every_field, seed_every_field


def test_delete_then_undo_keeps_every_field_of_every_message(qtbot, store: Store):
    version = store.add_model_version("base", "/models/base", is_base=True, activate=True)
    chat = seed_every_field(store, version.id)
    window = open_bare_window(qtbot, store)
    qtbot.waitUntil(lambda: window.conversations.row_of(chat) >= 0, timeout=5_000)
    choose_from_menu(qtbot, window.sidebar.list_view, window.conversations.row_of(chat), "Delete…")
    settle(qtbot, window)
    assert window.banner.text() == f"Deleted “{TITLE}”."
    assert window.conversations.row_of(chat) < 0
    qtbot.mouseClick(window.banner.action_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert window.conversations.row_of(chat) >= 0
    assert_every_field(store, chat, version.id)
    window.close()  # the Undo window closing now deletes nothing: the chat was brought back
    settle(qtbot, window)
    assert_every_field(store, chat, version.id)
