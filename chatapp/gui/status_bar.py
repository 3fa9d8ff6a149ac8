"""The main window's status bar: the model in use, the last reply's timing, and what
File › Fine-tune can learn from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFrame, QMainWindow

from chatapp.gui.elide import ElidedLabel
from chatapp.gui.engine_worker import ModelInfo
from chatapp.gui.teach_counts import status_text

if TYPE_CHECKING:
    from engine import Reply


class WindowStatus:
    """The labels of `window`'s status bar and the sentences they show."""

    def __init__(self, window: QMainWindow) -> None:
        bar = window.statusBar()
        self.model_label = ElidedLabel("Loading model…", window)  # cut at a word when narrow
        self.model_label.setObjectName("modelLabel")
        self.stats_label = ElidedLabel("", window)
        self.stats_label.setObjectName("statsLabel")
        bar.addWidget(self.model_label, 1)
        bar.addPermanentWidget(self.stats_label)
        self.teach_label = ElidedLabel("", window)
        self.teach_label.setObjectName("teachLabel")
        self.teach_label.setToolTip(
            "What File › Fine-tune can learn from: replies you corrected, replies you marked "
            "Good, and your own turns."
        )
        divider = QFrame(window)  # the reply's timing and the fine-tune counts read as two things
        divider.setFrameShape(QFrame.Shape.VLine)
        divider.setFrameShadow(QFrame.Shadow.Sunken)
        bar.addPermanentWidget(divider)
        bar.addPermanentWidget(self.teach_label)

    def show_model(self, info: ModelInfo, name: str) -> None:
        size = f", {info.parameters / 1e6:.1f}M parameters" if info.parameters else ""
        quantized = ", int8" if info.quantized else ""
        self.model_label.setText(f"Model: {name} ({info.device}{size}{quantized})")
        self.model_label.setToolTip(info.directory)

    def show_no_model(self) -> None:
        self.model_label.setText("No model loaded")

    def show_reply(self, reply: Reply) -> None:
        ttft = f"{reply.first_token_ms:.0f} ms to first token, " if reply.first_token_ms else ""
        self.stats_label.setText(
            f"Last reply: {ttft}{reply.total_ms:.0f} ms, {len(reply.tokens)} tokens, "
            f"{reply.tokens_per_second:.0f} tokens/s"
        )

    def show_counts(self, counts: dict[str, int]) -> None:
        self.teach_label.setText(status_text(counts))
