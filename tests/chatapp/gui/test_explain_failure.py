"""Details… of a reply whose attention the engine cannot compute: the failure is said in words
on the Attention tab, and the chat itself is not disturbed (#27 item 5)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from chatapp.gui.details_dialog import DetailsDialog
from engine import Chatbot
from tests.chatapp.gui.helpers import click_chip, send_and_wait


def test_an_explain_failure_is_shown_on_the_attention_tab(qtbot, window, monkeypatch):
    reply = send_and_wait(qtbot, window, "Do you like music?")
    window.controller.attention_cache.clear()  # as for an older reply: the engine recomputes

    def broken_attention(self: Chatbot, history: list[str], reply_text: str) -> None:
        raise RuntimeError(f"no attention for {reply_text!r}")

    monkeypatch.setattr(Chatbot, "attention", broken_attention)
    click_chip(qtbot, window, window.messages.rowCount() - 1, "details")
    dialog = window.findChild(DetailsDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.addWidget(dialog)
    dialog.tabs.setCurrentIndex(2)

    def says_it_failed() -> bool:
        widget = dialog.attention_area.widget()
        return isinstance(widget, QLabel) and widget.objectName() == "attentionFailed"

    qtbot.waitUntil(says_it_failed, timeout=10_000)
    text = dialog.attention_area.widget().text()
    assert (
        text == f"The attention could not be shown: RuntimeError: no attention for {reply.text!r}"
    )
    assert window.banner.text() == ""  # an explain failure is the dialog's, not the chat's
    assert not window.controller.busy
