"""Where a reply came from, as the user sees it: a reply people wrote says so under its bubble,
and the row in the database keeps it."""

from __future__ import annotations

from PySide6.QtWidgets import QStyleOptionViewItem

from chatapp.gui.message_model import SourceRole
from tests.chatapp.gui.bare_window import save_shot
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS, click_chip, open_main_window, send_and_wait


def test_a_reply_people_wrote_says_so_under_its_bubble(qtbot, store, tiny_pool_model_dir, tmp_path):
    window = open_main_window(qtbot, store, tiny_pool_model_dir)
    reply = send_and_wait(qtbot, window, "how are you?")  # the default preset pools
    stored = store.get_message(reply.id)
    assert stored.decoding["strategy"] == "pool"
    assert stored.decoding["provenance"]["source"] == "corpus"
    assert stored.decoding["provenance"]["origin"].startswith("small conversation ")
    assert any(entry.get("source") == "corpus" for entry in stored.nbest)
    row = window.messages.rowCount() - 1
    index = window.messages.index(row)
    assert index.data(SourceRole) == "From a conversation in the training corpus"
    assert window.messages.index(row - 1).data(SourceRole) == ""  # the user's own turn
    view = window.chat_view
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(index)
    delegate = view.itemDelegate()
    line = delegate._source_rect(option, index)
    bubble = delegate._bubble_rect(option, index)
    assert line is not None and line.top() > bubble.bottom()
    assert option.rect.contains(line)  # the row is tall enough for it: nothing overlaps
    save_shot(window, "reply-source.png", tmp_path)
    window.close()


def test_a_reply_the_model_wrote_has_no_source_line(qtbot, window, store) -> None:
    reply = send_and_wait(qtbot, window, "hello")  # the tiny model has no index: its own
    assert "provenance" not in (store.get_message(reply.id).decoding or {})
    assert window.messages.index(window.messages.rowCount() - 1).data(SourceRole) == ""


def test_regenerate_under_the_pool_gives_another_reply_each_time(
    qtbot, store, tiny_pool_model_dir
) -> None:
    """The pool's pick does not depend on the seed: Regenerate asks for a reply the turn does
    not have yet."""
    window = open_main_window(qtbot, store, tiny_pool_model_dir)
    first = send_and_wait(qtbot, window, "how are you?")
    texts = [first.text]
    for _ in range(2):
        with qtbot.waitSignal(window.controller.reply_stored, timeout=REPLY_TIMEOUT_MS) as done:
            click_chip(qtbot, window, 1, "regenerate")
        texts.append(done.args[0].text)
    assert len(set(texts)) == 3, texts
    assert [m.text for m in store.alternatives(first.id)] == texts
    window.close()
