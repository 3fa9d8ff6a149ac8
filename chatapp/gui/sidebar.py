"""The sidebar: a search box, a New button and the conversation list with its context menu.

Each chat shows its title (told apart from others of the same title), when it was last used
and a one-line preview, under the name of its date group; pinned chats carry a drawn pin and
archived ones are greyed. Search runs as you type, a moment after the last key.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from chatapp.gui.conversation_model import (
    ARCHIVED_COLOR,
    ArchivedRole,
    ConversationIdRole,
    ConversationListModel,
    GroupRole,
    PinnedRole,
    PreviewRole,
    RecordRole,
    TimeRole,
    pin_icon,
)
from chatapp.gui.elide import elide_keeping_suffix
from chatapp.gui.search_results import HIT_ROLE, SearchHitDelegate, hit_date, snippet_parts
from chatapp.store.records import SearchHit

SEARCH_DELAY_MS = 250  # search once typing pauses, not on every key
PADDING = 6
ICON_SIZE = 14


class ConversationDelegate(QStyledItemDelegate):
    """A chat row: [group header] / pin, title, time / preview."""

    def _header_height(self, option: QStyleOptionViewItem, index: QModelIndex) -> int:
        return QFontMetrics(option.font).height() + 10 if index.data(GroupRole) else 0

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        line = QFontMetrics(option.font).height()
        return QSize(200, self._header_height(option, index) + 2 * line + 3 * PADDING)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        painter.save()
        header = self._header_height(option, index)
        palette = option.palette
        if header:
            font = QFont(option.font)
            font.setBold(True)
            font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
            painter.setFont(font)
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            top = QRect(
                option.rect.left() + PADDING, option.rect.top() + 4, option.rect.width(), header - 4
            )
            painter.drawText(
                top,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                index.data(GroupRole),
            )
        item = QStyleOptionViewItem(option)
        item.rect = option.rect.adjusted(0, header, 0, 0)
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawPrimitive(
            QStyle.PrimitiveElement.PE_PanelItemViewItem, item, painter, option.widget
        )
        self._paint_text(painter, item, index)
        painter.restore()

    def _paint_text(
        self, painter: QPainter, item: QStyleOptionViewItem, index: QModelIndex
    ) -> None:
        selected = bool(item.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        archived = bool(index.data(ArchivedRole))
        color = ARCHIVED_COLOR if archived and not selected else item.palette.color(role)
        line = QFontMetrics(item.font).height()
        rect = item.rect.adjusted(PADDING, PADDING, -PADDING, -PADDING)
        left = rect.left()
        if index.data(PinnedRole):
            pin_icon().paint(
                painter, QRect(left, rect.top() + (line - ICON_SIZE) // 2, ICON_SIZE, ICON_SIZE)
            )
            left += ICON_SIZE + 4
        small = QFont(item.font)
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        small.setItalic(archived)
        time_text = index.data(TimeRole) or ""
        time_width = QFontMetrics(small).horizontalAdvance(time_text) + 4
        title_font = QFont(item.font)
        title_font.setItalic(archived)
        title_font.setBold(not archived)
        painter.setFont(title_font)
        painter.setPen(color)
        title_rect = QRect(left, rect.top(), rect.right() - left - time_width, line)
        # The title is cut, never its "(2)": that is what tells two chats of one title apart.
        title = elide_keeping_suffix(
            QFontMetrics(title_font), index.data() or "", title_rect.width()
        )
        painter.drawText(
            title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title
        )
        painter.setFont(small)
        faint = color if selected else item.palette.color(QPalette.ColorRole.PlaceholderText)
        painter.setPen(faint)
        painter.drawText(
            QRect(rect.left(), rect.top(), rect.width(), line),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            time_text,
        )
        preview_rect = QRect(rect.left(), rect.top() + line + PADDING // 2, rect.width(), line)
        preview = QFontMetrics(small).elidedText(
            index.data(PreviewRole) or "", Qt.TextElideMode.ElideRight, preview_rect.width()
        )
        painter.drawText(
            preview_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, preview
        )


class Sidebar(QWidget):
    conversation_selected = Signal(int)
    new_requested = Signal()
    rename_requested = Signal(int)
    pin_requested = Signal(int, bool)
    archive_requested = Signal(int, bool)
    delete_requested = Signal(int)
    search_requested = Signal(str)
    hit_activated = Signal(object)  # SearchHit
    show_archived_changed = Signal(bool)

    def __init__(self, model: ConversationListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("searchEdit")
        self.search_edit.setPlaceholderText("Search all messages (Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self.new_button = QPushButton("New chat", self)
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.list_view = QListView(self)
        self.list_view.setObjectName("conversationList")
        self.list_view.setModel(model)
        self.list_view.setUniformItemSizes(False)  # a group's first row carries its header
        # Titles and previews are elided to the width: nothing to scroll to sideways.
        self.list_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list_view.setItemDelegate(ConversationDelegate(self.list_view))
        self.list_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results = QListWidget(self)
        self.results.setObjectName("searchResults")
        self.results.setWordWrap(True)
        self.results.setItemDelegate(SearchHitDelegate(self.results))  # title, date, snippet
        self.results.hide()
        self.archived_box = QCheckBox("Show archived", self)
        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addLayout(top)
        layout.addWidget(self.new_button)
        layout.addWidget(self.results, 3)  # while it shows, the hits get most of the room
        layout.addWidget(self.list_view, 2)
        layout.addWidget(self.archived_box)
        self.new_button.clicked.connect(self.new_requested)
        self.list_view.clicked.connect(self._on_clicked)
        self.list_view.activated.connect(self._on_clicked)
        self.list_view.customContextMenuRequested.connect(self._context_menu)
        self.search_edit.returnPressed.connect(self._search)
        self.search_edit.textChanged.connect(self._on_search_text)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._search)
        self.results.itemActivated.connect(self._on_hit)
        self.results.itemClicked.connect(self._on_hit)
        self.archived_box.toggled.connect(self.show_archived_changed)

    def _on_clicked(self, index: QModelIndex) -> None:
        if index.isValid() and index.data(ConversationIdRole) is not None:  # not the new chat
            self.conversation_selected.emit(index.data(ConversationIdRole))

    def select(self, conversation_id: int | None) -> None:
        """Highlight `conversation_id` (None: the new chat's row, if there is one)."""
        row = self.model.row_of(conversation_id)
        if row >= 0:
            self.list_view.setCurrentIndex(self.model.index(row))
        else:
            self.list_view.clearSelection()

    def _context_menu(self, point: QPoint) -> None:
        index = self.list_view.indexAt(point)
        if not index.isValid() or index.data(ConversationIdRole) is None:
            return
        record = index.data(RecordRole)
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename_requested.emit(record.id))
        menu.addAction("Unpin" if record.pinned else "Pin",
                       lambda: self.pin_requested.emit(record.id, not record.pinned))  # fmt: skip
        archived = record.archived
        menu.addAction(
            "Unarchive" if archived else "Archive",
            lambda: self.archive_requested.emit(record.id, not archived),
        )
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.delete_requested.emit(record.id))
        menu.exec(self.list_view.viewport().mapToGlobal(point))

    # Search --------------------------------------------------------------------------------
    def _search(self) -> None:
        self._search_timer.stop()
        query = self.search_edit.text().strip()
        if query:
            self.search_requested.emit(query)

    def _on_search_text(self, text: str) -> None:
        if not text.strip():
            self._search_timer.stop()
            self.results.clear()
            self.results.hide()
        else:
            self._search_timer.start()  # restarted by each key: one search when typing pauses

    def show_hits(self, hits: list[SearchHit]) -> None:
        self.results.clear()
        if not hits:
            self.results.addItem(QListWidgetItem("No messages match."))
        for hit in hits:
            snippet = snippet_parts(hit.snippet)[0]  # plain: the delegate paints the emphasis
            item = QListWidgetItem(f"{hit.conversation_title}\n{snippet}")
            item.setData(HIT_ROLE, hit)
            item.setToolTip(f"{hit.conversation_title} · {hit_date(hit.created_at)}\n{snippet}")
            self.results.addItem(item)
        self.results.show()

    def _on_hit(self, item: QListWidgetItem) -> None:
        hit = item.data(HIT_ROLE)
        if hit is not None:
            self.hit_activated.emit(hit)

    def focus_search(self) -> None:
        self.search_edit.setFocus()
        self.search_edit.selectAll()
