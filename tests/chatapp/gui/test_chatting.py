"""Chatting in the real window: send, stream, stop, regenerate, rate, correct, edit."""

from __future__ import annotations

from PySide6.QtCore import Qt

from chatapp.gui import text_dialog
from chatapp.gui.message_model import RecordRole, StateRole
from tests.chatapp.gui.bare_window import save_shot
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, click_chip, send_and_wait


def test_composer_has_focus_when_the_window_opens(qtbot, window):
    qtbot.waitUntil(lambda: window.composer.edit.hasFocus(), timeout=2000)


def test_type_and_send_stores_both_turns(qtbot, window, store):
    reply = send_and_wait(qtbot, window, "Hello there")
    conversation = window.controller.conversation_id
    assert store.history(conversation) == ["Hello there", reply.text]
    assert reply.text.strip()
    assert reply.model_version_id is not None
    assert [window.messages.item(r).role for r in range(window.messages.rowCount())] == [
        "user",
        "bot",
    ]
    assert window.composer.text() == ""
    assert "tokens/s" in window.status_bar.stats_label.text()
    # The conversation got its title from the first turn.
    assert store.get_conversation(conversation).title == "Hello there"


def test_shift_enter_adds_a_line_and_blank_text_is_not_sent(qtbot, window, store):
    qtbot.keyClicks(window.composer.edit, "first line")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert window.composer.text() == "first line\n"
    window.composer.edit.setPlainText("   \n  ")
    assert not window.composer.send_button.isEnabled()
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.controller.conversation_id is None
    assert store.list_conversations() == []


def test_stop_mid_reply_keeps_the_partial_reply_marked_stopped(qtbot, window, store):
    window.decoding_panel.set_config(
        window.decoding_panel.config.replace(strategy="sample", min_length=200, max_length=200)
    )
    window.engine.token_generated.connect(lambda *_: window.controller.stop())
    qtbot.keyClicks(window.composer.edit, "Tell me a long story")
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    stored = blocker.args[0]
    assert stored.stopped
    assert 0 < stored.timings["tokens"] < 200
    assert store.get_message(stored.id).stopped
    assert window.messages.index(1).data(StateRole) == "stored"


def test_regenerate_adds_an_alternative_and_the_chosen_one_is_what_continues(qtbot, window, store):
    window.decoding_panel.set_config(
        window.decoding_panel.config.replace(strategy="sample", seed=1, temperature=1.5)
    )
    first = send_and_wait(qtbot, window, "How are you?")
    window.decoding_panel.set_knob("seed", 2)
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as blocker:
        click_chip(qtbot, window, 1, "regenerate")
    second = blocker.args[0]
    alternatives = store.alternatives(first.id)
    assert [a.id for a in alternatives] == [first.id, second.id]
    assert first.text != second.text
    conversation = window.controller.conversation_id
    assert store.history(conversation)[-1] == second.text
    click_chip(qtbot, window, 1, "previous")
    assert store.history(conversation)[-1] == first.text
    assert window.messages.item(1).text == first.text
    assert window.messages.item(1).record.alternative_count == 2


def test_rating_and_correction_land_in_the_store(qtbot, window, store, monkeypatch):
    reply = send_and_wait(qtbot, window, "Good morning")
    click_chip(qtbot, window, 1, "like")
    assert store.get_message(reply.id).rating == 1
    click_chip(qtbot, window, 1, "dislike")
    assert store.get_message(reply.id).rating == -1
    monkeypatch.setattr(text_dialog, "ask_text", lambda *a, **k: "Good morning to you too!")
    click_chip(qtbot, window, 1, "correct")
    assert store.get_message(reply.id).corrected_text == "Good morning to you too!"
    pairs = store.training_pairs(include=("corrected",))
    assert [(p.context, p.response) for p in pairs] == [
        (["Good morning"], "Good morning to you too!")
    ]


def test_edit_and_resend_keeps_the_old_branch_one_click_away(
    qtbot, window, store, monkeypatch, tmp_path
):
    send_and_wait(qtbot, window, "first question")
    second_reply = send_and_wait(qtbot, window, "second question")
    conversation = window.controller.conversation_id
    assert store.message_count(conversation) == 4
    monkeypatch.setattr(text_dialog, "ask_text", lambda *a, **k: "a new question")
    with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS):
        click_chip(qtbot, window, 0, "edit")
    history = store.history(conversation)
    assert len(history) == 2 and history[0] == "a new question"
    assert window.messages.rowCount() == 2
    assert dict(window.delegate.chips(window.messages.index(0)))["counter"] == "2/2"
    window.chat_view.setCurrentIndex(window.messages.index(0))
    save_shot(window, "edited_turn_2_of_2.png", tmp_path)

    click_chip(qtbot, window, 0, "previous")  # back to the first branch, with its replies
    assert store.history(conversation)[0] == "first question"
    assert window.messages.rowCount() == 4
    assert window.messages.index(3).data(RecordRole).id == second_reply.id
    assert dict(window.delegate.chips(window.messages.index(0)))["counter"] == "1/2"
    click_chip(qtbot, window, 0, "next")
    assert window.messages.rowCount() == 2 and window.messages.index(0).data() == "a new question"


def test_a_changed_setting_changes_the_next_reply(qtbot, window):
    spin = window.decoding_panel.knob_widgets["max_length"]
    spin.setValue(2)
    window.decoding_panel.strategy_combo.setCurrentText("greedy")
    assert window.decoding_panel.config.max_length == 2
    reply = send_and_wait(qtbot, window, "Tell me everything")
    assert reply.timings["tokens"] <= 2
    assert reply.decoding["max_length"] == 2 and reply.decoding["strategy"] == "greedy"


def test_html_in_a_message_is_shown_literally(qtbot, window):
    text = "<b>x</b><img src=y> & <i>z</i>"
    send_and_wait(qtbot, window, text)
    assert window.messages.index(0).data() == text
    assert window.messages.item(0).text == text


def test_turns_sent_while_replying_queue_and_are_answered_in_order(qtbot, window, store):
    for text in ("one", "two", "three"):
        window.controller.send(text)
    qtbot.waitUntil(
        lambda: not window.controller.busy and window.controller.queued == 0,
        timeout=REPLY_TIMEOUT_MS,
    )
    history = store.history(window.controller.conversation_id)
    assert history[0::2] == ["one", "two", "three"]
    assert len(history) == 6


def test_a_failed_model_load_shows_a_banner_and_the_window_keeps_working(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.engine.model_load_failed, timeout=REPLY_TIMEOUT_MS):
        window.engine.load_model(str(tmp_path / "no-such-model"))
    assert "does not exist" in window.banner.text()
    assert window.isVisible()


def test_closing_during_generation_stops_the_worker(qtbot, window):
    window.decoding_panel.set_config(
        window.decoding_panel.config.replace(
            strategy="beam", min_length=200, max_length=200, beam_size=16, n_best=1
        )
    )
    window.controller.send("keep talking")
    qtbot.waitUntil(lambda: window.controller.busy, timeout=5000)
    window.close()
    assert window.engine._thread.isFinished()
