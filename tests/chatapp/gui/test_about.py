"""Help › About: the model card rendered from its Markdown, and the model named once."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTextBrowser

from chatapp.gui.about import show_about
from tests.chatapp.gui.bare_window import save_shot


def test_about_renders_the_model_card_and_names_the_model_once(qtbot, window, tmp_path):
    window.menus.show_about()
    dialog = next(d for d in window.findChildren(QLabel) if d.text().startswith("Seq2Seq"))
    dialog = dialog.window()
    qtbot.addWidget(dialog)
    label = dialog.findChildren(QLabel)[0].text()
    assert "Model: Model:" not in label
    assert window._model_name and f"Model: {window._model_name}" in label
    card = dialog.findChild(QTextBrowser, "modelCard")
    text = card.toPlainText()
    assert text.startswith("Model card")  # "# Model card" rendered as a heading
    assert "## " not in text and "**" not in text and "|---" not in text
    document = card.document()
    levels = [document.findBlockByNumber(n).blockFormat().headingLevel() for n in range(20)]
    assert 1 in levels and 2 in levels
    save_shot(dialog, "about.png", tmp_path)


def test_about_before_the_model_has_loaded(qtbot, tmp_path):
    dialog = show_about(None, model="", model_dir=str(tmp_path))
    qtbot.addWidget(dialog)
    assert "Model: still loading" in dialog.findChildren(QLabel)[0].text()
