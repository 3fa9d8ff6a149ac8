"""Issue #24 item 8: archiving a chat and deleting a preset get the banner's Undo, as deleting a
chat does (no question first: each is done at once and can be taken back)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from chatapp.gui import text_dialog
from engine.decoding.config import DecodeConfig
from tests.chatapp.gui.helpers import send_and_wait, settle
from tests.chatapp.gui.menus import choose_from_menu

BEAM = DecodeConfig(strategy="beam", beam_size=5, n_best=5)


def test_archiving_a_chat_from_its_menu_can_be_undone_from_the_banner(qtbot, window, store):
    send_and_wait(qtbot, window, "hello")
    chat = window.controller.conversation_id
    sidebar = window.sidebar.list_view
    choose_from_menu(qtbot, sidebar, window.conversations.row_of(chat), "Archive")
    settle(qtbot, window)
    assert store.get_conversation(chat).archived
    assert window.conversations.row_of(chat) < 0 and window.controller.conversation_id is None
    assert "Archived “hello”" in window.banner.text()
    assert window.banner.action_button.isVisible()
    assert window.banner.action_button.text() == "Undo"
    qtbot.mouseClick(window.banner.action_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert not store.get_conversation(chat).archived
    assert window.conversations.row_of(chat) >= 0


def test_deleting_a_preset_can_be_undone_from_the_banner(qtbot, window, store, monkeypatch):
    panel = window.decoding_panel
    panel.set_config(BEAM)
    monkeypatch.setattr(text_dialog, "ask_text", lambda *a, **k: "mine")
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [p.name for p in store.list_presets()] == ["mine"])
    assert panel.preset_combo.currentText() == "mine"
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: store.list_presets() == [])
    qtbot.waitUntil(lambda: "Deleted preset “mine”" in window.banner.text())
    assert panel.preset_combo.findText("mine") < 0
    qtbot.mouseClick(window.banner.action_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [p.name for p in store.list_presets()] == ["mine"])
    assert DecodeConfig.from_dict(store.list_presets()[0].config) == BEAM
    qtbot.waitUntil(lambda: panel.preset_combo.findText("mine") >= 0)
    assert panel.preset_combo.currentText() == "mine"  # the settings are that preset again
