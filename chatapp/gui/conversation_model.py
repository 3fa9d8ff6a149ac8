"""The sidebar's list of conversations, as a `QAbstractListModel`.

Rows are conversations, grouped by when they were last used (Pinned, Today, Yesterday,
Previous 7 days, Older): the first row of each group carries the group's name in `GroupRole`
and the delegate draws it above the row, so a row is always one conversation (`rowCount` is the
number of chats). A "New conversation" not yet stored can be shown as a draft row at the top.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap

from chatapp.store.records import DEFAULT_TITLE, ConversationRecord

Index = QModelIndex | QPersistentModelIndex

ConversationIdRole = Qt.ItemDataRole.UserRole + 1
RecordRole = Qt.ItemDataRole.UserRole + 2
PinnedRole = Qt.ItemDataRole.UserRole + 3
GroupRole = Qt.ItemDataRole.UserRole + 4  # the group's name on its first row, else ""
TimeRole = Qt.ItemDataRole.UserRole + 5  # when it was last used, short
PreviewRole = Qt.ItemDataRole.UserRole + 6  # the start of the last message, one line
ArchivedRole = Qt.ItemDataRole.UserRole + 7
DraftRole = Qt.ItemDataRole.UserRole + 8  # the new chat, not stored until its first message

DRAFT_ID = -1
GROUPS = ("Pinned", "Today", "Yesterday", "Previous 7 days", "Older")
ARCHIVED_COLOR = QColor(128, 128, 128)


def group_of(record: ConversationRecord, today: date) -> str:
    if record.pinned:
        return "Pinned"
    day = record.updated_at.astimezone().date()
    if day >= today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if day > today - timedelta(days=7):
        return "Previous 7 days"
    return "Older"


def short_time(moment: datetime, today: date) -> str:
    """ "14:05" today and yesterday (the group says which), "Mon" this week, a date before."""
    local = moment.astimezone()
    if local.date() >= today - timedelta(days=1):
        return local.strftime("%H:%M")
    if local.date() > today - timedelta(days=7):
        return local.strftime("%a %H:%M")
    if local.year == today.year:
        return f"{local.day} {local.strftime('%b')}"
    return f"{local.day} {local.strftime('%b %Y')}"


def labels(records: list[ConversationRecord]) -> dict[int, str]:
    """Titles, with "(2)", "(3)"… after the second and later chats of the same title (oldest
    first), so that six chats called "hi" can be told apart."""
    counts = Counter(record.title.casefold() for record in records)
    seen: Counter[str] = Counter()
    result = {}
    for record in sorted(records, key=lambda r: (r.created_at, r.id)):
        key = record.title.casefold()
        seen[key] += 1
        suffix = f" ({seen[key]})" if counts[key] > 1 and seen[key] > 1 else ""
        result[record.id] = record.title + suffix
    return result


_pin_icon: QIcon | None = None


def pin_icon() -> QIcon:
    """A drawn push-pin (an emoji shows as an empty box without an emoji font)."""
    global _pin_icon
    if _pin_icon is None:
        pixmap = QPixmap(32, 32)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        red = QColor(205, 50, 50)
        needle = QPen(QColor(90, 90, 90), 3)
        needle.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(needle)
        painter.drawLine(QPointF(13, 19), QPointF(5, 27))  # the needle
        head = QPainterPath()
        head.addEllipse(QPointF(20, 12), 8, 8)
        painter.fillPath(head, QBrush(red))
        painter.setPen(QPen(red.darker(140), 2))
        painter.drawPath(head)
        painter.end()
        _pin_icon = QIcon(pixmap)
    return _pin_icon


def draft_record() -> ConversationRecord:
    now = datetime.now(timezone.utc)
    return ConversationRecord(DRAFT_ID, "", DEFAULT_TITLE, now, now, False, False, 0, "")


class ConversationListModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self._records: list[ConversationRecord] = []
        self._labels: dict[int, str] = {}
        self._groups: list[str] = []
        self._today = date.today()
        self._draft = False

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._labels.get(record.id, record.title)
        if role == Qt.ItemDataRole.ToolTipRole:
            state = " (archived)" if record.archived else ""
            return f"{record.title}{state}\n{record.message_count} messages\n{record.preview}"
        if role == Qt.ItemDataRole.DecorationRole:
            return pin_icon() if record.pinned else None
        if role == Qt.ItemDataRole.ForegroundRole and record.archived:
            return QBrush(ARCHIVED_COLOR)
        if role == Qt.ItemDataRole.FontRole and record.archived:
            font = QFont()
            font.setItalic(True)
            return font
        return self._custom_data(index.row(), record, role)

    def _custom_data(self, row: int, record: ConversationRecord, role: int) -> Any:
        if role == ConversationIdRole:
            return None if record.id == DRAFT_ID else record.id
        if role == RecordRole:
            return record
        if role == PinnedRole:
            return record.pinned
        if role == ArchivedRole:
            return record.archived
        if role == DraftRole:
            return record.id == DRAFT_ID
        if role == GroupRole:
            first = row == 0 or self._groups[row - 1] != self._groups[row]
            return self._groups[row] if first else ""
        if role == TimeRole:
            when = "now" if record.id == DRAFT_ID else short_time(record.updated_at, self._today)
            return f"archived · {when}" if record.archived else when
        if role == PreviewRole:
            return "Type a message to start" if record.id == DRAFT_ID else record.preview
        return None

    def set_records(self, records: list[ConversationRecord], today: date | None = None) -> None:
        self.beginResetModel()
        self._today = today or date.today()
        stored = list(records)
        self._records = ([draft_record()] if self._draft else []) + stored
        self._labels = labels(stored)
        self._groups = ["" if r.id == DRAFT_ID else group_of(r, self._today) for r in self._records]
        self.endResetModel()

    def set_draft(self, shown: bool) -> None:
        """Show (or drop) the unsaved new chat's row at the top."""
        if shown != self._draft:
            self._draft = shown
            self.set_records([r for r in self._records if r.id != DRAFT_ID], self._today)

    @property
    def has_draft(self) -> bool:
        return self._draft

    def row_of(self, conversation_id: int | None) -> int:
        wanted = DRAFT_ID if conversation_id is None else conversation_id
        for row, record in enumerate(self._records):
            if record.id == wanted:
                return row
        return -1

    def record(self, row: int) -> ConversationRecord:
        return self._records[row]

    def stored_records(self) -> list[ConversationRecord]:
        return [record for record in self._records if record.id != DRAFT_ID]
