"""Corrections answer at once in the window: the taught reply, its Details…, the switch."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QPlainTextEdit

from chatapp.correction_memory import SETTING_KEY
from chatapp.gui.message_model import SourceRole
from tests.chatapp.gui.helpers import click_chip, send_and_wait

TAUGHT = "my name is ada, and i keep a lighthouse."


def test_a_saved_correction_answers_the_same_turn_in_a_new_conversation(qtbot, window, store):
    first = send_and_wait(qtbot, window, "what is your name?")
    assert first.text != TAUGHT
    window.controller.correct(first.id, TAUGHT)
    window.chats.new()
    reply = send_and_wait(qtbot, window, "What is your name")  # case and "?" do not matter
    assert reply.text == TAUGHT
    memory = store.get_message(reply.id).decoding["memory"]
    assert memory["exact"] and memory["chosen"] and memory["source_id"] == first.id
    details = window.show_details(store.get_message(reply.id))
    text = details.findChild(QPlainTextEdit, "detailsText").toPlainText()
    assert text.startswith("From your correction: you taught this reply for “what is your name?”")
    assert memory["when"] in text
    details.close()


def test_the_memory_can_be_switched_off_in_the_settings(qtbot, window, store):
    first = send_and_wait(qtbot, window, "hello")
    window.controller.correct(first.id, TAUGHT)
    assert window.menus.memory_action.isChecked()  # on by default
    window.menus.memory_action.setChecked(False)
    assert window.settings.value(SETTING_KEY, type=bool) is False  # saved with the data dir
    assert not QSettings().contains(SETTING_KEY)
    window.chats.new()
    reply = send_and_wait(qtbot, window, "hello")
    assert reply.text != TAUGHT and "memory" not in (store.get_message(reply.id).decoding or {})
    window.menus.memory_action.setChecked(True)
    window.chats.new()
    assert send_and_wait(qtbot, window, "hello").text == TAUGHT


def test_an_unrelated_turn_gets_the_model_s_own_reply(qtbot, window, store):
    first = send_and_wait(qtbot, window, "what is your name?")
    window.controller.correct(first.id, TAUGHT)
    window.chats.new()
    reply = send_and_wait(qtbot, window, "do you like pizza?")
    assert reply.text != TAUGHT and "memory" not in (store.get_message(reply.id).decoding or {})


def test_a_liked_reply_is_offered_again_until_a_correction_beats_it(qtbot, window, store):
    """#22: a reply rated up in one chat answers the same question in the next, saying so
    under its bubble and in Details…; a later correction of that question wins over it, and
    another question never gets it."""
    first = send_and_wait(qtbot, window, "what is your name?")
    click_chip(qtbot, window, 1, "like")
    window.chats.new()
    again = send_and_wait(qtbot, window, "What is your name")
    assert again.text == first.text
    decoding = store.get_message(again.id).decoding
    assert decoding["provenance"]["source"] == "liked"
    assert decoding["memory"]["source_id"] == first.id
    assert str(first.conversation_id) in decoding["provenance"]["origin"]
    assert window.messages.index(1).data(SourceRole) == "From a reply you liked"
    details = window.show_details(store.get_message(again.id))
    text = details.findChild(QPlainTextEdit, "detailsText").toPlainText()
    assert text.startswith("From a reply you liked: you rated this reply up for “what is your")
    details.close()
    window.chats.new()
    other = send_and_wait(qtbot, window, "do you like pizza?")
    assert "memory" not in (store.get_message(other.id).decoding or {})
    window.controller.correct(again.id, TAUGHT)
    window.chats.new()
    assert send_and_wait(qtbot, window, "what is your name?").text == TAUGHT
