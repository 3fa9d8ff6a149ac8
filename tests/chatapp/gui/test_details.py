"""Details… of a reply as a person reads it: the n-best tab's button, the attention map's words,
colour scale and fit, and the decoding settings as a table."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from chatapp.gui.attention_view import MIN_CELL, AttentionView, merge_pieces
from chatapp.gui.details_dialog import DetailsDialog, settings_table
from chatapp.store.records import MessageRecord
from engine.decoding.config import CHOICE_KNOBS, KNOBS, DecodeConfig
from tests.chatapp.gui.bare_window import save_shot

SAMPLED = {"strategy": "sample", "temperature": 0.7, "top_k": 40, "seed": None, "max_length": 32}


def stored_reply(store, *, nbest: list[dict] | None = None) -> MessageRecord:
    """A stored reply, made (as its record says) with `SAMPLED` and seed 7."""
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "hello")
    reply = store.add_bot_reply(conversation.id, "hi there")
    return dataclasses.replace(store.get_message(reply.id), decoding=SAMPLED, nbest=nbest, seed=7)


def open_details(qtbot, record) -> DetailsDialog:
    dialog = DetailsDialog(record, "base")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_a_sampled_reply_offers_no_n_best_entry_to_use(qtbot, store):
    dialog = open_details(qtbot, stored_reply(store))
    dialog.tabs.setCurrentIndex(1)
    assert "Only beam search and rerank keep an n-best list." in dialog.nbest_list.item(0).text()
    assert not dialog.use_button.isEnabled()
    qtbot.mouseClick(
        dialog.nbest_list.viewport(),
        Qt.MouseButton.LeftButton,
        pos=dialog.nbest_list.visualItemRect(dialog.nbest_list.item(0)).center(),
    )
    assert not dialog.use_button.isEnabled()  # the note is not a reply to pick


def test_an_n_best_entry_can_be_used_once_picked(qtbot, store):
    nbest = [{"text": "hi there", "score": -1.0}, {"text": "hello!", "score": -2.0}]
    dialog = open_details(qtbot, stored_reply(store, nbest=nbest))
    dialog.tabs.setCurrentIndex(1)
    assert not dialog.use_button.isEnabled()  # nothing picked yet
    second = dialog.nbest_list.item(1)
    qtbot.mouseClick(
        dialog.nbest_list.viewport(),
        Qt.MouseButton.LeftButton,
        pos=dialog.nbest_list.visualItemRect(second).center(),
    )
    assert dialog.use_button.isEnabled()
    with qtbot.waitSignal(dialog.alternative_picked) as picked:
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert picked.args[1] == "hello!"


def test_the_settings_tab_is_a_table_not_json(qtbot, store, tmp_path):
    dialog = open_details(qtbot, stored_reply(store))
    text = dialog.findChild(QPlainTextEdit, "detailsText").toPlainText()
    assert "Model version: base" in text and "Seed: 7" in text
    assert "{" not in text and '"strategy"' not in text
    table = dialog.settings_table
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert table.item(0, 0).text() == "Strategy" and rows["Strategy"] == "sample"
    assert rows["Temperature"] == "0.7" and rows["Top-k"] == "40" and rows["Max length"] == "32"
    assert rows["Seed setting"] == "random each reply"
    save_shot(dialog, "details_settings.png", tmp_path)


def test_pieces_are_merged_into_words():
    words = merge_pieces(["▁I", "'", "s", "▁fine", "<sep>", "▁ok", "a", "</s>"])
    assert [word.text for word in words] == ["I's", "fine", "⏎", "oka", "(end)"]
    assert [word.pieces for word in words] == [(0, 1, 2), (3,), (4,), (5, 6), (7,)]
    assert merge_pieces(["▁caf", "<0xC3>", "<0xA9>"])[0].text == "café"  # byte fallback


def test_the_attention_map_labels_words_and_has_a_colour_scale(qtbot):
    reply = ["▁I", "'", "m", "▁fine", "</s>"]
    context = ["▁how", "▁are", "▁y", "ou", "?"]
    weights = [
        [0.1, 0.1, 0.3, 0.3, 0.2],
        [0.1, 0.1, 0.3, 0.3, 0.2],
        [0.1, 0.1, 0.3, 0.3, 0.2],
        [0.0, 0.5, 0.25, 0.25, 0.0],
        [0.2, 0.2, 0.2, 0.2, 0.2],
    ]
    view = AttentionView(reply, context, weights)
    qtbot.addWidget(view)
    assert view.rows == ["I'm", "fine", "(end)"]
    assert view.columns == ["how", "are", "you?"]
    assert view.weights[0] == pytest.approx([0.1, 0.1, 0.8])  # all that its pieces got
    assert view.weights[1] == pytest.approx([0.0, 0.5, 0.5])
    view.resize(view.sizeHint())
    view.show()
    qtbot.waitExposed(view)
    image = view.grab().toImage()
    cell = view.cell_size()
    left, top = view._label_extent(cell)
    bar_y = top + cell * len(view.rows) + 8 + 5  # the middle of the colour scale
    low, high = image.pixelColor(left + 2, bar_y), image.pixelColor(left + 78, bar_y)
    assert low.lightness() - high.lightness() > 60  # pale for 0 to strong for the largest
    assert abs(low.lightness() - view.color_for(0.0).lightness()) < 12


def test_a_long_reply_s_map_fits_the_dialog_without_scrolling(qtbot, store, tmp_path):
    dialog = open_details(qtbot, stored_reply(store))
    dialog.tabs.setCurrentIndex(2)
    reply = [f"▁word{n}" for n in range(30)] + ["</s>"]
    context = [f"▁ctx{n}" for n in range(40)]
    weights = [[1 / len(context)] * len(context) for _ in reply]
    dialog.show_attention(context, reply, weights)
    area = dialog.attention_area
    # Laid out: the map has been handed all of the room the area has.
    qtbot.waitUntil(lambda: area.widget().size() == area.viewport().size())
    assert not area.horizontalScrollBar().isVisible()
    assert not area.verticalScrollBar().isVisible()
    assert area.widget().cell_size() >= MIN_CELL
    save_shot(dialog, "details_attention.png", tmp_path)


def test_a_candidate_cut_at_the_length_limit_is_marked_in_the_n_best_list(qtbot, store, tmp_path):
    parts = {"forward": -0.9, "mmi": -1.0, "scorer": "backward model"}
    nbest = [
        {"text": "hi there", "score": -1.0, **parts},
        {"text": "hi there, i was just going to the shop and then i", "score": -0.2,
         **parts, "cut": True},
        {"text": "hello!", "score": -2.0, **parts, "cut": "yes"},  # not a flag: from a file
    ]  # fmt: skip
    dialog = open_details(qtbot, stored_reply(store, nbest=nbest))
    dialog.resize(700, 500)
    dialog.tabs.setCurrentIndex(1)
    lines = [dialog.nbest_list.item(row).text() for row in range(dialog.nbest_list.count())]
    marked = ["cut at the length limit" in line for line in lines]
    assert marked == [False, True, False]
    # On a line of its own, no wider than the line of scores above it, so the list gets no wider.
    _, scores, mark = lines[1].split("\n")
    assert mark.strip().startswith("cut at the length limit") and len(mark) <= len(scores)
    save_shot(dialog, "nbest-cut.png", tmp_path)


def test_details_say_who_wrote_the_reply_and_each_candidate(qtbot, store, tmp_path):
    parts = {"forward": -2.1, "mmi": -0.8, "scorer": "backward model"}
    nbest = [
        {"text": "hi there", "score": -1.0, **parts, "source": "corpus",
         "origin": "chitchat conversation 5b1f"},
        {"text": "my name is ada.", "score": -1.4, **parts, "source": "correction",
         "origin": "your correction of 2026-12-01 10:00"},
        {"text": "hello!", "score": -2.0, **parts},
    ]  # fmt: skip
    record = stored_reply(store, nbest=nbest)
    provenance = {"source": "corpus", "origin": "chitchat conversation 5b1f"}
    decoding = {**SAMPLED, "strategy": "pool", "provenance": provenance}
    dialog = open_details(qtbot, dataclasses.replace(record, decoding=decoding))
    text = dialog.findChild(QPlainTextEdit, "detailsText").toPlainText()
    assert "Source: from a conversation in the training corpus (chitchat conversation 5b1f)" in text
    table = dialog.settings_table
    names = [table.item(row, 0).text() for row in range(table.rowCount())]
    assert not any("rovenance" in name for name in names)
    lines = [dialog.nbest_list.item(row).text() for row in range(dialog.nbest_list.count())]
    assert "from a conversation in the training corpus (chitchat conversation 5b1f)" in lines[0]
    assert "from your correction (your correction of 2026-12-01 10:00)" in lines[1]
    assert "from" not in lines[2].split("\n")[0] and len(lines[2].split("\n")) == 2
    dialog.tabs.setCurrentIndex(1)
    save_shot(dialog, "nbest-sources.png", tmp_path)
    plain = open_details(qtbot, record)  # a reply with no record of its source: the model's
    assert (
        "Source: written by the model"
        in plain.findChild(QPlainTextEdit, "detailsText").toPlainText()
    )


def test_a_choice_knob_in_the_settings_table_reads_as_words_with_its_help(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    table = settings_table({"strategy": "rerank", "candidate_search": "beam"}, parent)
    rows = {table.item(row, 0).text(): table.item(row, 1) for row in range(table.rowCount())}
    assert rows["Candidate search"].text() == "beam"
    assert rows["Candidate search"].toolTip() == CHOICE_KNOBS["candidate_search"].help


def test_the_pools_knobs_in_the_settings_table_read_as_words_with_their_help(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    pooled = DecodeConfig(strategy="pool", retrieved=8, similar=4).to_dict()
    table = settings_table(pooled, parent)
    rows = {table.item(row, 0).text(): table.item(row, 1) for row in range(table.rowCount())}
    assert rows["Similar-turn replies"].text() == "4"
    assert rows["Similar-turn replies"].toolTip() == KNOBS["similar"].help
    assert rows["Replies people wrote"].text() == "8" and len(rows) == len(pooled)
    del pooled["similar"]  # a reply stored before the knob existed: no row, nothing made up
    older = settings_table(pooled, parent)
    names = [older.item(row, 0).text() for row in range(older.rowCount())]
    assert "Similar-turn replies" not in names and len(names) == len(pooled)
