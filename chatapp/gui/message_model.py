"""The chat view's messages, as a `QAbstractListModel` that pages long histories in.

Rows are the conversation's chosen path, oldest first. Only the last page is read when a
conversation opens; `fetch_older` reads older pages and inserts them at the top, so a
10,000-message conversation opens as fast as a short one. The reply being generated is a
transient last row, changed in place with `dataChanged` as tokens stream in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from chatapp.store import Store
from chatapp.store.records import MessageRecord
from engine.sources import ReplySource

Index = QModelIndex | QPersistentModelIndex
PAGE_SIZE = 100
MAX_LOADED_ROWS = 2 * PAGE_SIZE  # beyond this, a view at the bottom drops the oldest rows

RoleRole = Qt.ItemDataRole.UserRole + 1  # "user" | "bot"
# "stored" | "thinking" | "streaming" | "queued" | "stopped" (stopped with nothing to keep)
StateRole = Qt.ItemDataRole.UserRole + 2
RecordRole = Qt.ItemDataRole.UserRole + 3  # MessageRecord or None
AlternativeRole = Qt.ItemDataRole.UserRole + 4  # (index, count)
RatingRole = Qt.ItemDataRole.UserRole + 5
StoppedRole = Qt.ItemDataRole.UserRole + 6
MessageIdRole = Qt.ItemDataRole.UserRole + 7
ItemRole = Qt.ItemDataRole.UserRole + 8  # the row's ChatItem, replaced whenever the row changes
CorrectionRole = Qt.ItemDataRole.UserRole + 9  # the reply the user taught instead, or None
HighlightRole = Qt.ItemDataRole.UserRole + 11  # words to highlight (a search's), or ()
SourceRole = Qt.ItemDataRole.UserRole + 12  # who wrote a reply, when not the model ("" if it did)


def source_label(decoding: object) -> str:
    """The line under a reply the model did not write: who did ("" for the model's own)."""
    provenance = decoding.get("provenance") if isinstance(decoding, dict) else None
    if not isinstance(provenance, dict):
        return ""
    source = ReplySource.parse(provenance.get("source"))
    return "" if source is ReplySource.MODEL else source.label.capitalize()


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a new one per change
class ChatItem:
    role: str
    text: str
    state: str = "stored"
    record: MessageRecord | None = None


def item_of(record: MessageRecord) -> ChatItem:
    return ChatItem(role=record.role, text=record.text, state="stored", record=record)


class MessageListModel(QAbstractListModel):
    def __init__(self, store: Store | None = None) -> None:
        super().__init__()
        self._store = store
        self._items: list[ChatItem] = []
        self._conversation_id: int | None = None
        self._first_loaded = 0  # path position of the first loaded row
        self._highlight: tuple[str, ...] = ()  # the words of the search hit that opened it

    @property
    def conversation_id(self) -> int | None:
        return self._conversation_id

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        record = item.record
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return item.text
        if role == RoleRole:
            return item.role
        if role == StateRole:
            return item.state
        if role == RecordRole:
            return record
        if role == ItemRole:
            return item
        if role == MessageIdRole:
            return record.id if record else None
        if role == AlternativeRole:
            return (record.alternative_index, record.alternative_count) if record else (0, 1)
        if role == RatingRole:
            return record.rating if record else 0
        if role == StoppedRole:
            return bool(record and record.stopped)
        if role == CorrectionRole:
            return record.corrected_text if record else None
        if role == HighlightRole:
            return self._highlight
        if role == SourceRole:
            return source_label(record.decoding) if record and record.role == "bot" else ""
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        # Editable only to open the read-only selectable text editor of the delegate.
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable

    # Paging ------------------------------------------------------------------------------
    def load_conversation(self, conversation_id: int | None) -> None:
        """Show `conversation_id` (None: an empty chat). Read before anything changes, so a
        read that fails (StoreError, for the caller to show) leaves the chat on screen."""
        items: list[ChatItem] = []
        first_loaded = 0
        if conversation_id is not None and self._store is not None:
            total = self._store.message_count(conversation_id)
            first_loaded = max(0, total - PAGE_SIZE)
            records = self._store.page_messages(conversation_id, first_loaded, PAGE_SIZE)
            items = [item_of(record) for record in records]
        self.beginResetModel()
        self._highlight = ()  # a search hit's words belong to the chat it opened
        self._conversation_id = conversation_id
        self._items = items
        self._first_loaded = first_loaded
        self.endResetModel()

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        # Qt's views fetch more whenever the last row is in sight, to append below it: in a
        # chat that is always, so they read the whole history in, page after page. Older pages
        # go above; the chat view asks for them itself when scrolled to the top (fetch_older).
        return False

    def has_older(self) -> bool:
        """True while older messages than the first row are still in the store."""
        return self._first_loaded > 0

    def fetch_older(self) -> None:
        """Insert the page before the first row at the top."""
        if self._store is None or self._conversation_id is None or not self.has_older():
            return
        start = max(0, self._first_loaded - PAGE_SIZE)
        records = self._store.page_messages(
            self._conversation_id, start, self._first_loaded - start
        )
        if not records:
            self._first_loaded = 0
            return
        self.beginInsertRows(QModelIndex(), 0, len(records) - 1)
        self._items[0:0] = [item_of(record) for record in records]
        self._first_loaded = start
        self.endInsertRows()

    def drop_oldest(self, count: int) -> None:
        """Unload up to `count` rows from the top (stored ones only); `fetch_older` reloads them."""
        count = min(count, len(self._items))
        while count > 0 and self._items[count - 1].state != "stored":
            count -= 1  # never a queued or live row (they are at the bottom anyway)
        if count <= 0:
            return
        self.beginRemoveRows(QModelIndex(), 0, count - 1)
        del self._items[:count]
        self._first_loaded += count
        self.endRemoveRows()

    # Changes -----------------------------------------------------------------------------
    def _append(self, item: ChatItem) -> int:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self.endInsertRows()
        return row

    def _set(self, row: int, item: ChatItem) -> None:
        self._items[row] = item
        index = self.index(row)
        self.dataChanged.emit(index, index)

    def append_record(self, record: MessageRecord) -> None:
        self._drop_stopped()  # a new turn: the stopped one's Retry no longer applies
        queued = self._queued_rows()
        if queued:  # a stored turn goes before the turns still waiting in the queue
            row = queued[0]
            self.beginInsertRows(QModelIndex(), row, row)
            self._items.insert(row, item_of(record))
            self.endInsertRows()
        else:
            self._append(item_of(record))

    def append_queued(self, text: str) -> None:
        self._append(ChatItem(role="user", text=text, state="queued"))

    def take_first_queued(self) -> None:
        queued = self._queued_rows()
        if queued:
            row = queued[0]
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._items[row]
            self.endRemoveRows()

    def _queued_rows(self) -> list[int]:
        return [row for row, item in enumerate(self._items) if item.state == "queued"]

    def begin_reply(self) -> None:
        """A 'thinking' bot row until the first token arrives (in place of a stopped one)."""
        item = ChatItem(role="bot", text="", state="thinking")
        stopped = self._stopped_row()
        if stopped >= 0:
            self._set(stopped, item)
            return
        queued = self._queued_rows()
        if queued:
            row = queued[0]
            self.beginInsertRows(QModelIndex(), row, row)
            self._items.insert(row, item)
            self.endInsertRows()
        else:
            self._append(item)

    def mark_regenerating(self, position: int) -> None:
        """Show the reply at `position` as 'thinking' while its alternative is generated."""
        row = self.row_of_position(position)
        if row >= 0:
            self._set(row, replace(self._items[row], text="", state="thinking"))

    def _live_row(self) -> int:
        for row in range(len(self._items) - 1, -1, -1):
            if self._items[row].state in ("thinking", "streaming"):
                return row
        return -1

    def set_thinking_text(self, text: str) -> bool:
        """What the 'thinking' row says while a reply is worked out; False if there is none."""
        row = self._live_row()
        if row < 0 or self._items[row].state != "thinking":
            return False
        self._set(row, replace(self._items[row], text=text))
        return True

    def show_stopped(self) -> None:
        """The live row becomes a 'stopped' row (stopped with nothing to keep): it stays, so
        the turn is seen to be unanswered, and offers Retry."""
        row = self._live_row()
        if row >= 0:
            self._set(row, ChatItem(role="bot", text="", state="stopped"))

    def _stopped_row(self) -> int:
        return next((r for r, item in enumerate(self._items) if item.state == "stopped"), -1)

    def _drop_stopped(self) -> None:
        row = self._stopped_row()
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._items[row]
            self.endRemoveRows()

    def update_reply(self, text: str) -> None:
        row = self._live_row()
        if row >= 0:
            self._set(row, replace(self._items[row], text=text, state="streaming"))

    def finish_reply(self, record: MessageRecord | None) -> None:
        """Replace the live row with the stored reply (or drop it when nothing was stored)."""
        row = self._live_row()
        if row < 0:
            if record is not None:
                self.append_record(record)
            return
        if record is None:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._items[row]
            self.endRemoveRows()
        else:
            self._set(row, item_of(record))

    def replace_record(self, record: MessageRecord) -> None:
        """Show a changed message (rated, corrected, another alternative chosen)."""
        for row, item in enumerate(self._items):
            if item.record is not None and (
                item.record.id == record.id
                or (item.record.position == record.position and item.state == "stored")
            ):
                self._set(row, item_of(record))
                return

    def row_of_message(self, message_id: int) -> int:
        for row, item in enumerate(self._items):
            if item.record is not None and item.record.id == message_id:
                return row
        return -1

    def row_of_position(self, position: int) -> int:
        for row, item in enumerate(self._items):
            if item.record is not None and item.record.position == position:
                return row
        return -1

    def item(self, row: int) -> ChatItem:
        return self._items[row]

    def items(self) -> list[ChatItem]:
        return list(self._items)

    def set_highlight(self, words: tuple[str, ...]) -> None:
        """Highlight `words` wherever they occur in this chat (a search hit opened it)."""
        self._highlight = words
        if self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1), [HighlightRole])

    def ensure_position_loaded(self, position: int) -> None:
        while self._first_loaded > position and self.has_older():
            self.fetch_older()
