"""Hostile message text, through the real window and through `Chatbot.reply`.

Every text is stored and read back exactly, or refused with a clear message (empty, whitespace,
over the 1,000,000-character limit); an unpaired surrogate, which SQLite cannot hold, becomes
U+FFFD and the user is told. The window keeps working after each.
"""

from __future__ import annotations

import pytest

from chatapp.gui.chat_controller import MAX_MESSAGE_CHARS
from chatapp.store import Store
from engine import Chatbot, DecodeConfig
from engine.errors import GenerationError
from tests.database_checks import integrity
from tests.robustness.helpers import all_texts, send_through_composer, send_through_controller

# Stored exactly as sent. Each is a case in docs/RELIABILITY.md.
HOSTILE = {
    "only_emoji": "😀🎉🇫🇷👨\u200d👩\u200d👧\u200d👦👍🏽",
    "emoji_wrapping": "😀 " * 400 + "end",  # painted lines are sliced right (UTF-16 vs str)
    "mixed_rtl_ltr": "שלום hello مرحبا 123 \u202eevil\u202c (\u200f) עולם world",
    "zero_width_and_controls": "a\u200b\u200c\u200d\u2060\ufeffb \x01\x07\x08\x7f"
    "\x1b[31mred\x1b[0m",
    "nul": "NUL \x00 in the \x00\x00 middle\x00",
    "html_and_qt_rich_text": (
        "<b>bold</b><img src=x onerror=alert(1)><script>alert(2)</script>"
        "<qt><font color=red>rich</font></qt> <a href='file:///etc/passwd'>x</a> &amp; &lt;"
    ),
    "markdown": "# heading\n**bold** _it_ [link](http://example.com)\n```\ncode\n```\n> quote",
    "sql": "'); DROP TABLE messages; -- \" OR 1=1; SELECT * FROM conversations WHERE '1'='1",
    "whitespace_edges": "  leading\ttabs\r\nCRLF\rCR\n  trailing  ",
}


def test_hostile_text_through_the_controller_is_stored_exactly(qtbot, fast, store: Store):
    for name, text in HOSTILE.items():
        reply = send_through_controller(qtbot, fast, text)
        conversation = fast.controller.conversation_id
        assert store.history(conversation)[-2:] == [text, reply.text], name
        row = fast.messages.row_of_message(reply.id) - 1
        assert fast.messages.item(row).text == text, name  # what the view shows
        fast.chat_view.viewport().repaint()  # paints every visible bubble, emoji lines too
    assert fast.grab().width() > 0
    stored = [text for _, role, text in all_texts(store.path) if role == "user"]
    assert stored == list(HOSTILE.values())
    assert integrity(store.path) == "ok"


def test_hostile_text_through_the_composer_is_stored_as_the_box_held_it(qtbot, fast, store):
    for name, text in HOSTILE.items():
        typed, reply = send_through_composer(qtbot, fast, text)
        assert fast.composer.text() == "", name
        assert store.history(fast.controller.conversation_id)[-2:] == [typed, reply.text], name
        # Qt's text box keeps every character except that line breaks become "\n".
        assert typed == text.replace("\r\n", "\n").replace("\r", "\n"), name


def test_a_one_megabyte_message_is_sent_and_one_more_character_is_refused(
    qtbot, fast, store: Store
):
    at_limit = "x" * MAX_MESSAGE_CHARS  # one "word": the worst case for wrapping
    _, reply = send_through_composer(qtbot, fast, at_limit)
    conversation = fast.controller.conversation_id
    assert store.history(conversation) == [at_limit, reply.text]
    over = "y" * (MAX_MESSAGE_CHARS + 1)
    fast.composer.set_text(over)
    fast.send(fast.composer.text())
    assert "too long (1,000,001 characters; the limit is 1,000,000)" in fast.banner.text()
    assert fast.composer.text() == over, "a refused message stays in the box"
    assert store.message_count(conversation) == 2
    still = send_through_controller(qtbot, fast, "still working?")
    assert still.text.strip() and store.history(conversation)[-2:] == ["still working?", still.text]


@pytest.mark.parametrize("text", ["", " ", "\n\t  \r\n", "\u3000\u2003"])
def test_empty_or_whitespace_is_refused_and_kept_in_the_box(qtbot, fast, store, text):
    fast.composer.set_text(text)
    fast.send(text)
    assert "The message is empty" in fast.banner.text()
    assert fast.composer.text() == text.replace("\r\n", "\n")
    assert store.list_conversations() == []
    with pytest.raises(ValueError, match="empty"):
        store.add_user_turn(store.create_conversation().id, text)


def test_an_unpaired_surrogate_becomes_a_replacement_character_and_the_user_is_told(
    qtbot, fast, store
):
    reply = send_through_controller(qtbot, fast, "broken \ud800 paste \udc00!")
    conversation = fast.controller.conversation_id
    assert store.history(conversation) == ["broken \ufffd paste \ufffd!", reply.text]
    assert "2 character(s) that cannot be stored" in fast.banner.text()
    # A valid pair split in two code points (as surrogatepass decoding leaves it) is joined.
    send_through_controller(qtbot, fast, "pair \ud83d\ude00")
    assert store.history(conversation)[2] == "pair 😀"
    # The store refuses one with a clear message rather than a codec error mid-transaction.
    with pytest.raises(ValueError, match="unpaired surrogate"):
        store.add_user_turn(conversation, "\udfff")
    assert integrity(store.path) == "ok"


def test_chatbot_replies_to_every_hostile_text(tiny_bot: Chatbot):
    config = DecodeConfig(strategy="sample", max_length=8, seed=1)
    for name, text in {
        **HOSTILE,
        "one_megabyte": "x" * MAX_MESSAGE_CHARS,
        "lone_surrogate": "a\ud800b",
        "only_zero_width": "\u200b\u200d\ufeff",
    }.items():
        reply = tiny_bot.reply(["hello", "hi there!", text], config)
        assert isinstance(reply.text, str) and not reply.cancelled, name
        assert reply.text.encode("utf-8"), name  # always storable
        pieces, _, weights = tiny_bot.attention([text], reply.text or "ok")
        assert pieces and weights, name


@pytest.mark.parametrize("history", [[], [""], ["hello", "   "], ["\n\t"]])
def test_chatbot_refuses_an_empty_turn_clearly(tiny_bot: Chatbot, history):
    with pytest.raises(GenerationError, match="empty"):
        tiny_bot.reply(history)


@pytest.mark.parametrize("name", ["only_emoji", "emoji_wrapping", "mixed_rtl_ltr", "nul"])
def test_the_painted_lines_are_exactly_the_text(fast, name):
    from chatapp.gui.message_delegate import _layout_lines

    text = HOSTILE[name]
    for width in (60, 200, 700):
        lines = _layout_lines(text, fast.font().toString(), width)
        assert "".join(text[start : start + length] for start, length, _ in lines) == text
