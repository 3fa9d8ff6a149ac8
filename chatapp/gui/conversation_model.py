"""The sidebar's list of conversations, as a `QAbstractListModel`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from chatapp.store.records import ConversationRecord

Index = QModelIndex | QPersistentModelIndex

ConversationIdRole = Qt.ItemDataRole.UserRole + 1
RecordRole = Qt.ItemDataRole.UserRole + 2
PinnedRole = Qt.ItemDataRole.UserRole + 3


class ConversationListModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self._records: list[ConversationRecord] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return ("📌 " if record.pinned else "") + record.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{record.title}\n{record.message_count} messages\n{record.preview}"
        if role == ConversationIdRole:
            return record.id
        if role == RecordRole:
            return record
        if role == PinnedRole:
            return record.pinned
        return None

    def set_records(self, records: list[ConversationRecord]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def row_of(self, conversation_id: int) -> int:
        for row, record in enumerate(self._records):
            if record.id == conversation_id:
                return row
        return -1

    def record(self, row: int) -> ConversationRecord:
        return self._records[row]
