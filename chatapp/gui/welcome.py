"""What an empty chat shows instead of a blank pane: a short welcome and example openers.

Pressing an opener sends it, so a first-time user sees a reply without having to think of
something to type.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

OPENERS = (
    "Hi! How are you today?",
    "What do you like to do on weekends?",
    "Tell me about your favourite film.",
    "Where would you like to travel?",
)


class WelcomePane(QWidget):
    opener_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomePane")
        title = QLabel("Welcome to Seq2Seq Chat", self)
        title.setObjectName("welcomeTitle")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        intro = QLabel(
            "Chat with a small dialogue model that runs on this computer. Type below, or start "
            "with one of these. Rate replies and write better ones to teach it; "
            "File › Fine-tune learns from them.",
            self,
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(intro)
        self.buttons: list[QPushButton] = []
        for opener in OPENERS:
            button = QPushButton(opener, self)
            button.clicked.connect(lambda _=False, text=opener: self.opener_chosen.emit(text))
            layout.addWidget(button)
            self.buttons.append(button)
        layout.addStretch(2)
