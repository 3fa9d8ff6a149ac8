"""Keeps the open chat in step with turns another program writes into it (`main.py chat --db`).

When the database watcher reports a write, and after each of the window's own replies, the
open chat's last turn and length are read on a thread of its own and compared with what is shown;
if they differ the chat is read again. While the window's own reply is being made nothing is
reloaded, so a streaming reply is never cut off; the next reply continues from every turn the
user can see.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PySide6.QtCore import QObject, QPoint, Signal, Slot
from PySide6.QtWidgets import QAbstractItemView

from chatapp.gui.chat_controller import ChatController
from chatapp.gui.chat_view import ChatView
from chatapp.gui.message_model import MessageListModel, RecordRole
from chatapp.store import Store, StoreError
from chatapp.store.records import MessageRecord


@dataclass(frozen=True)
class ChatTail:
    """The end of a chat's visible path, as stored."""

    conversation_id: int
    count: int  # turns on the path
    last_id: int | None  # the last turn's message id (None: an empty chat)


def read_tail(store: Store, conversation_id: int) -> ChatTail:
    last = store.last_messages(conversation_id, 1)
    count = store.message_count(conversation_id)
    return ChatTail(conversation_id, count, last[-1].id if last else None)


def shown_tail(messages: MessageListModel) -> tuple[int, int | None]:
    """(turns on the path, last turn's id) as the chat view shows them (stored rows only);
    a gap in the shown positions (a turn written between two of ours) counts as -1."""
    stored = [item.record for item in messages.items() if item.state == "stored" and item.record]
    if not stored:
        return 0, None
    positions = [record.position for record in stored]
    contiguous = positions == list(range(positions[0], positions[0] + len(positions)))
    return (positions[-1] + 1 if contiguous else -1), stored[-1].id


class LiveChat(QObject):
    _read = Signal(object)  # a ChatTail, from the reading thread (queued to the GUI thread)

    def __init__(
        self,
        store: Store,
        controller: ChatController,
        view: ChatView,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store, self._controller, self._view = store, controller, view
        # Reads of their own, not store actions: they change nothing, so they announce nothing.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-chat")
        self._read.connect(self._compare)
        controller.busy_changed.connect(self._on_busy)

    @Slot()
    def check(self) -> None:
        """Another program wrote the database: read the open chat's end in the background."""
        conversation_id = self._controller.conversation_id
        if conversation_id is None:
            return
        if self._controller.busy:
            return  # checked when the reply is in (`_on_busy`)
        self._executor.submit(self._read_tail, conversation_id)

    def _read_tail(self, conversation_id: int) -> None:
        try:
            tail = read_tail(self._store, conversation_id)
        except StoreError:
            return  # deleted meanwhile, or unreadable: the listing says what there is
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile
            self._read.emit(tail)

    def _on_busy(self, busy: bool) -> None:
        # Our own writes reset the watcher, so a turn another program wrote while our reply
        # was made may never be reported: look once each reply is in.
        if not busy:
            self.check()

    def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @Slot(object)
    def _compare(self, tail: ChatTail) -> None:
        controller = self._controller
        if tail.conversation_id != controller.conversation_id:
            return  # another chat was opened meanwhile
        if controller.busy:
            return  # a reply started meanwhile: checked again when it is in
        if tail.count == 0 or shown_tail(controller.messages) == (tail.count, tail.last_id):
            return  # no change, or a chat that reads as empty: gone, or its file replaced
        try:
            self._reload(tail.conversation_id)
        except StoreError:
            return  # deleted meanwhile, or its file gone: the shown turns stay readable

    def _reload(self, conversation_id: int) -> None:
        """Read the chat again; a reader at the bottom stays there, one reading older turns
        keeps the turn at the top of the view."""
        view, messages = self._view, self._controller.messages
        following = view.following
        top: MessageRecord | None = view.indexAt(QPoint(0, 0)).data(RecordRole)
        self._controller.open_conversation(conversation_id)
        if following or top is None:
            view.scrollToBottom()
            view.set_following(following)
            return
        messages.ensure_position_loaded(top.position)
        row = messages.row_of_position(top.position)
        if row >= 0:
            view.scrollTo(messages.index(row), QAbstractItemView.ScrollHint.PositionAtTop)
