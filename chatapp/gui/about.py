"""Help > About: version, the running model, and its model card."""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
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


def show_about(parent: QWidget) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"About {APP_NAME}")
    dialog.resize(640, 520)
    label = QLabel(
        f"{APP_NAME} {__version__}\nA local chatbot: a GRU encoder and an attention decoder, "
        "trained on open-domain chat, that learns from your own conversations.\n"
        f"Model: {getattr(parent, 'model_label', QLabel()).text()}",
        dialog,
    )
    label.setWordWrap(True)
    card = QPlainTextEdit(dialog)
    card.setReadOnly(True)
    card.setPlainText(model_card_text(getattr(parent, "model_dir", None)))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(label)
    layout.addWidget(card, 1)
    layout.addWidget(buttons)
    dialog.show()
    return dialog
