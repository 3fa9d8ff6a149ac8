"""Chats deleted in the window but kept in the store until their Undo window closes.

Deleting a chat hides it at once (the sidebar, search hits) and deletes it for real only when
the banner's Undo is dropped: the time runs out, another message takes the banner, or the
window closes. Undo is then only "show it again", so it restores exactly what was deleted
(every branch, rating, correction and model version), and an app killed inside the Undo window
loses nothing: the chat is still in the database when it starts again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from PySide6.QtCore import QObject, Signal

from chatapp.gui.actions import Change, StoreActions
from chatapp.store import Store

T = TypeVar("T")


class PendingDeletes(QObject):
    changed = Signal()  # a chat was hidden, shown again, or deleted for real

    def __init__(self, actions: StoreActions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._actions = actions
        self._hidden: set[int] = set()

    def hidden(self) -> frozenset[int]:
        return frozenset(self._hidden)

    def visible(self, items: Iterable[T], key: str = "id") -> list[T]:
        """`items` (records, search hits) without those of a chat waiting to be deleted."""
        return [item for item in items if getattr(item, key) not in self._hidden]

    def hide(self, conversation_id: int) -> None:
        self._hidden.add(conversation_id)
        self.changed.emit()

    def restore(self, conversation_id: int) -> bool:
        """Undo: the chat shows again; False if it was not waiting (already deleted)."""
        if conversation_id not in self._hidden:
            return False
        self._hidden.discard(conversation_id)
        self.changed.emit()
        return True

    def commit(self, conversation_id: int) -> None:
        """Delete for real (in the background; the chat stays hidden until it is gone)."""
        if conversation_id not in self._hidden:
            return

        def delete(store: Store) -> None:
            store.delete_conversation(conversation_id)

        def done(_: object = None) -> None:
            self._hidden.discard(conversation_id)
            self.changed.emit()

        def failed(message: str) -> None:  # the chat shows again: nothing is lost
            done()
            self._actions.failed.emit(f"The chat could not be deleted: {message}")

        self._actions.run(delete, success=done, failure=failed, changes=Change.CONVERSATIONS)
