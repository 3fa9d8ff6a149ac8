"""The sidebar: a search box, a New button and the conversation list with its context menu."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatapp.gui.conversation_model import ConversationIdRole, ConversationListModel, RecordRole
from chatapp.store.records import SearchHit

HIT_ROLE = Qt.ItemDataRole.UserRole + 10


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
        self.list_view.setUniformItemSizes(True)
        self.list_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results = QListWidget(self)
        self.results.setObjectName("searchResults")
        self.results.setWordWrap(True)
        self.results.hide()
        self.archived_box = QCheckBox("Show archived", self)
        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addLayout(top)
        layout.addWidget(self.new_button)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.list_view, 3)
        layout.addWidget(self.archived_box)
        self.new_button.clicked.connect(self.new_requested)
        self.list_view.clicked.connect(self._on_clicked)
        self.list_view.activated.connect(self._on_clicked)
        self.list_view.customContextMenuRequested.connect(self._context_menu)
        self.search_edit.returnPressed.connect(self._search)
        self.search_edit.textChanged.connect(self._on_search_text)
        self.results.itemActivated.connect(self._on_hit)
        self.results.itemClicked.connect(self._on_hit)
        self.archived_box.toggled.connect(self.show_archived_changed)

    def _on_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.conversation_selected.emit(index.data(ConversationIdRole))

    def select(self, conversation_id: int | None) -> None:
        row = -1 if conversation_id is None else self.model.row_of(conversation_id)
        if row >= 0:
            self.list_view.setCurrentIndex(self.model.index(row))
        else:
            self.list_view.clearSelection()

    def _context_menu(self, point: QPoint) -> None:
        index = self.list_view.indexAt(point)
        if not index.isValid():
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
        query = self.search_edit.text().strip()
        if query:
            self.search_requested.emit(query)

    def _on_search_text(self, text: str) -> None:
        if not text.strip():
            self.results.clear()
            self.results.hide()

    def show_hits(self, hits: list[SearchHit]) -> None:
        self.results.clear()
        if not hits:
            self.results.addItem(QListWidgetItem("No messages match."))
        for hit in hits:
            snippet = hit.snippet.replace("\n", " ")
            item = QListWidgetItem(f"{hit.conversation_title}\n{snippet}")
            item.setData(HIT_ROLE, hit)
            item.setToolTip(snippet)
            self.results.addItem(item)
        self.results.show()

    def _on_hit(self, item: QListWidgetItem) -> None:
        hit = item.data(HIT_ROLE)
        if hit is not None:
            self.hit_activated.emit(hit)

    def focus_search(self) -> None:
        self.search_edit.setFocus()
        self.search_edit.selectAll()
