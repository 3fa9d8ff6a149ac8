"""The chat view: the conversation's messages, paged in as the user scrolls up, following
the newest reply while the user reads at the bottom."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from chatapp.gui.message_model import MAX_LOADED_ROWS, PAGE_SIZE, MessageListModel


class ChatView(QListView):
    """The messages; scrolling to the top pages older ones in."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWordWrap(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        # Hover events, so the reply under the mouse shows its chips (the delegate draws them
        # only for the hovered, selected or focused row).
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover)
        self.setMouseTracking(True)
        self.verticalScrollBar().valueChanged.connect(self._maybe_fetch_older)
        self._following = True  # stick to the bottom while a reply streams in
        self._follow_pending = False

    def _maybe_fetch_older(self, value: int) -> None:
        model = self.model()
        bar = self.verticalScrollBar()
        self._following = value >= bar.maximum() - 4
        if value == bar.minimum() and isinstance(model, MessageListModel) and model.has_older():
            before = bar.maximum()
            model.fetch_older()
            # Lay the new rows out now: with the range still the old one, the view stayed at
            # the top, jumped to the oldest row, and scrolling up again fetched nothing more.
            self.executeDelayedItemsLayout()
            bar.setValue(bar.maximum() - before)  # keep the same message under the eye

    @property
    def following(self) -> bool:
        """Whether the view sticks to the newest row (the reader is at the bottom)."""
        return self._following

    def set_following(self, following: bool) -> None:
        """Stick to the bottom (a chat just opened) or stay put (a search hit shown)."""
        self._following = following

    def request_follow(self) -> None:
        """Scroll to the newest row once the current events are handled.

        Each scroll lays out every loaded row (the rows' heights differ), so the inserts and
        changes of one turn, or the tokens that arrive together, share one scroll.
        """
        if not self._follow_pending:
            self._follow_pending = True
            # The view as context: a follow still queued when the window is deleted is dropped.
            QTimer.singleShot(0, self, self.follow)

    def follow(self) -> None:
        self._follow_pending = False
        if not self._following:
            return
        model = self.model()
        if isinstance(model, MessageListModel) and model.rowCount() > MAX_LOADED_ROWS:
            # Reading at the bottom: let go of old pages (scrolling up reads them again), so a
            # long conversation costs each turn no more layout work than a short one.
            model.drop_oldest(model.rowCount() - PAGE_SIZE)
        self.scrollToBottom()

    def resizeEvent(self, event: object) -> None:  # rewrap bubbles to the new width
        super().resizeEvent(event)
        self.scheduleDelayedItemsLayout()
