"""Help > About: version, the running model, and its model card (Markdown, rendered)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from chatapp import APP_NAME, __version__


def model_card_text(model_dir: str | None) -> str:
    from engine.default_model import default_model_dir

    candidates = [Path(model_dir)] if model_dir else []
    with contextlib.suppress(Exception):  # the shipped model may be missing
        candidates.append(default_model_dir())
    for folder in candidates:
        card = folder / "MODEL_CARD.md"
        if card.is_file():
            return card.read_text(encoding="utf-8")
    return "No model card was found for this model."


def show_about(parent: QWidget, *, model: str = "", model_dir: str | None = None) -> QDialog:
    """`model`: the loaded model version's name ("" while it loads)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"About {APP_NAME}")
    dialog.resize(680, 560)
    label = QLabel(
        f"{APP_NAME} {__version__}\nA local chatbot: a GRU encoder and an attention decoder, "
        "trained on open-domain chat, that learns from your own conversations.\n"
        f"Model: {model or 'still loading'}",
        dialog,
    )
    label.setWordWrap(True)
    card = QTextBrowser(dialog)
    card.setObjectName("modelCard")
    # The card is a file of the model folder: its links open nothing, in the app or outside.
    card.setOpenLinks(False)
    card.setMarkdown(model_card_text(model_dir))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(label)
    layout.addWidget(card, 1)
    layout.addWidget(buttons)
    dialog.show()
    return dialog
