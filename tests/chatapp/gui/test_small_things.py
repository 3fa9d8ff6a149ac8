"""Small things seen in a hands-on test (issue 24, item 9): the export's default file name,
the import's wording, selecting a word in a bubble, the fine-tune dialog's height and the
models table's width."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QPlainTextEdit,
    QScrollArea,
    QWidget,
)

from chatapp.gui.message_delegate import PADDING
from chatapp.store import Store
from tests.chatapp.gui.bare_window import open_bare_window, save_shot

LONG_TURN = (
    "so yesterday i finally went to the new ramen place downtown that everyone keeps talking "
    "about and honestly the broth was amazing but the noodles were a bit soft for my taste"
)


def double_click(widget: QWidget, point: QPoint) -> None:
    """Press, release, double-click, release: what a mouse sends for a double click."""
    kinds = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
             QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseButtonRelease)  # fmt: skip
    left = Qt.MouseButton.LeftButton
    for kind in kinds:
        held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else left
        event = QMouseEvent(kind, QPointF(point), QPointF(widget.mapToGlobal(point)), left, held,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
        QApplication.sendEvent(widget, event)


def test_the_export_is_offered_under_the_chats_title_cut_at_a_word(qtbot, store, monkeypatch):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, LONG_TURN)
    window = open_bare_window(qtbot, store)
    window.chats.open(conversation.id)
    offered: list[str] = []

    def save_dialog(parent, caption, path, *rest):  # the user cancels: nothing is written
        offered.append(path)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    window.menus.export_conversation("markdown")  # File › Export conversation as Markdown…
    name = Path(offered[0])
    assert name.suffix == ".md"
    assert len(name.stem) <= 40 and "…" not in name.stem
    assert LONG_TURN.startswith(name.stem + " ")  # whole words from the start


def test_importing_one_conversation_says_conversation(qtbot, store, tmp_path, monkeypatch):
    source = Store.open(tmp_path / "other.db")
    conversation = source.create_conversation()
    source.add_user_turn(conversation.id, "hello")
    archive = tmp_path / "one.json"
    archive.write_text(json.dumps(source.export_archive(conversation.id)), encoding="utf-8")
    source.close()
    window = open_bare_window(qtbot, store)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(archive), ""))
    window.menus.import_conversations()  # File › Import conversations…
    qtbot.waitUntil(lambda: "Imported" in window.banner.text(), timeout=10_000)
    assert "Imported 1 conversation (1 message); 0 already here were skipped" in (
        window.banner.text()
    )


def test_double_clicking_a_bubble_selects_the_word_where_the_text_was(qtbot, store, tmp_path):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "the quick brown fox jumps over the lazy dog")
    window = open_bare_window(qtbot, store)
    window.chats.open(conversation.id)
    view = window.chat_view
    index = window.messages.index(0)
    metrics = view.fontMetrics()
    text = "the quick brown fox jumps over the lazy dog"

    def text_origin() -> QPoint:
        """Where the bubble's text starts now: the view may still lay out (a scroll bar that
        comes or goes moves the right-aligned bubble), so it is read afresh each time."""
        rect = view.visualRect(index)
        bubble_right = rect.right() - 8  # the user's bubble sits on the right (MARGIN)
        text_width = metrics.horizontalAdvance(text) + 2
        return QPoint(bubble_right - (text_width + 2 * PADDING) + PADDING, rect.top() + 8 + PADDING)

    readings: list[QPoint] = []

    def settled() -> bool:
        """The layout has settled when two readings a few events apart agree."""
        readings.append(text_origin())
        return len(readings) > 1 and readings[-1] == readings[-2]

    qtbot.waitUntil(settled, timeout=5000)
    origin = text_origin()
    x = (
        origin.x()
        + metrics.horizontalAdvance("the quick ")
        + metrics.horizontalAdvance("brown") // 2
    )
    double_click(view.viewport(), QPoint(x, origin.y() + metrics.height() // 2))
    editor = view.viewport().findChild(QPlainTextEdit) or view.findChild(QPlainTextEdit)
    assert editor is not None and editor.isVisible()
    qtbot.waitUntil(lambda: editor.textCursor().selectedText() == "brown", timeout=5000)

    def first_character() -> QPoint:
        start = editor.textCursor()
        start.setPosition(0)
        return editor.viewport().mapTo(view.viewport(), editor.cursorRect(start).topLeft())

    # Once the editor's text is laid out (on a busy machine, a few events after it shows: the
    # first reading was 28 px off in 1 run of the whole suite, and right after any repaint).
    qtbot.waitUntil(lambda: abs(first_character().x() - text_origin().x()) <= 2, timeout=5000)
    first, origin = first_character(), text_origin()
    assert abs(first.x() - origin.x()) <= 2, "the text does not shift sideways"
    assert abs(first.y() - origin.y()) <= 3, "nor up or down"
    save_shot(view, "bubble_word_selected.png", tmp_path)


def test_the_finetune_dialog_has_no_empty_band_at_its_foot(qtbot, store, tmp_path):
    window = open_bare_window(qtbot, store)
    window.menus.open_finetune()
    dialog = window.findChild(QDialog, "finetuneDialog")
    qtbot.waitExposed(dialog)
    scroll = dialog.findChild(QScrollArea)
    content = scroll.widget()
    bars = (scroll.verticalScrollBar(), scroll.horizontalScrollBar())
    qtbot.waitUntil(lambda: not any(bar.isVisible() for bar in bars), timeout=3000)  # nothing cut
    save_shot(dialog, "finetune_idle.png", tmp_path)
    natural = content.heightForWidth(scroll.viewport().width())  # what its visible parts need
    assert scroll.viewport().height() - natural < 40, (scroll.viewport().height(), natural)


def test_the_models_table_fits_its_dialog(qtbot, store, tmp_path):
    base = store.add_model_version("shipped", tmp_path / "base", is_base=True, activate=True)
    store.add_model_version(
        "ft-20261207-112631",
        tmp_path / "ft",
        parent_id=base.id,
        metrics={"heldout_perplexity": 64.8, "base_heldout_perplexity": 62.79,
                 "valid_perplexity": 84.1, "base_valid_perplexity": 82.4},
        data={"pairs": {"corrected": 1234, "liked": 5678, "user": 91011},
              "replay_examples": 123456},
    )  # fmt: skip
    window = open_bare_window(qtbot, store)
    window.menus.open_models()
    dialog = window.findChild(QDialog, "modelsDialog")
    qtbot.waitExposed(dialog)
    table = dialog.table
    assert table.rowCount() == 2
    assert table.horizontalHeader().length() <= table.viewport().width()
    assert not table.horizontalScrollBar().isVisible()
