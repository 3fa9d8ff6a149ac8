"""The sidebar's side of the main window: opening, starting, renaming, pinning, archiving and
deleting chats (with Undo), searching them, and the listing they are shown in.

The chat controller (`chat_controller.py`) handles what happens inside the open chat; this
one decides which chat is open and keeps the sidebar's list in step with the store.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QAbstractItemView, QWidget

from chatapp.gui import text_dialog
from chatapp.gui.actions import Change
from chatapp.gui.banner import Banner
from chatapp.gui.chat_controller import ChatController
from chatapp.gui.chat_view import ChatView
from chatapp.gui.composer import Composer
from chatapp.gui.context import AppContext
from chatapp.gui.conversation_model import ConversationListModel
from chatapp.gui.pending_delete import PendingDeletes
from chatapp.gui.search_results import highlight_stems
from chatapp.gui.search_runner import SearchRunner
from chatapp.gui.sidebar import Sidebar
from chatapp.gui.turns import Listing, read_listing
from chatapp.gui.undoable import UndoableChanges
from chatapp.store import Store
from chatapp.store.errors import StoreError
from chatapp.store.records import SearchHit
from engine.decoding.config import DecodeConfig

LAST_CONVERSATION_KEY = "sidebar/last_conversation"


class ConversationsController(QObject):
    def __init__(
        self,
        context: AppContext,
        settings: QSettings,
        chat: ChatController,
        *,
        conversations: ConversationListModel,
        sidebar: Sidebar,
        chat_view: ChatView,
        composer: Composer,
        banner: Banner,
        add_preset: Callable[[str, DecodeConfig], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._context, self._settings, self._chat = context, settings, chat
        self._conversations, self._sidebar = conversations, sidebar
        self._view, self._composer, self._banner = chat_view, composer, banner
        self._parent = parent
        self.pending_deletes = PendingDeletes(context.actions, self)
        self.undoable = UndoableChanges(
            context,
            banner,
            self.pending_deletes,
            close_chat=self._close_chat,
            open_chat=self.open,
            add_preset=add_preset,
        )
        self.searcher = SearchRunner(context.store, self)  # search off the GUI thread
        self.searcher.found.connect(self._show_hits)
        self.searcher.failed.connect(banner.show_message)
        self._connect()

    def _connect(self) -> None:
        sidebar = self._sidebar
        sidebar.conversation_selected.connect(self.open)
        sidebar.new_requested.connect(self.new)
        sidebar.rename_requested.connect(self.rename)
        sidebar.pin_requested.connect(
            lambda cid, pinned: self._change(lambda store: store.pin_conversation(cid, pinned))
        )
        sidebar.archive_requested.connect(self.archive)
        sidebar.delete_requested.connect(self.delete)
        sidebar.search_requested.connect(self.search)
        sidebar.hit_activated.connect(self.jump_to_hit)
        sidebar.show_archived_changed.connect(lambda _: self.refresh())
        self.pending_deletes.changed.connect(self._on_pending_deletes_changed)
        self._chat.conversations_changed.connect(self.show_listing)
        self._context.actions.changed.connect(self._on_store_changed)

    def _change(self, op: Callable[[Store], object]) -> None:
        """Change conversations in the background; `changed` then shows the list as it is."""
        self._context.actions.run(op, changes=Change.CONVERSATIONS)

    # The listing ---------------------------------------------------------------------------
    def last_used(self) -> int | None:
        """The chat open when the app last closed; else the one used most recently (not the
        pinned one that heads the list)."""
        records = self._conversations.stored_records()
        last = self._settings.value(LAST_CONVERSATION_KEY, None)
        ids = {record.id for record in records}
        if last is not None and str(last).isdigit() and int(last) in ids:
            return int(last)
        newest = max(records, key=lambda r: r.updated_at, default=None)
        return newest.id if newest else None

    def refresh(self) -> None:
        """Read the list now (a user's change to it, or start-up)."""
        try:
            listing = read_listing(
                self._context.store, archived=self._sidebar.archived_box.isChecked()
            )
        except StoreError as error:
            self._banner.show_message(str(error))
            return
        self.show_listing(listing)

    def refresh_in_background(self) -> None:
        """Read the list off the GUI thread (another program wrote the database)."""
        archived = self._sidebar.archived_box.isChecked()
        self._context.actions.run(
            lambda store: read_listing(store, archived=archived), success=self.show_listing
        )

    def _on_store_changed(self, changes: Change) -> None:
        """Show the list after a change that did not bring its own (a turn's action does)."""
        if changes == Change.CONVERSATIONS:
            self.refresh()  # an import, a restore: the list as it is now

    def show_listing(self, listing: Listing) -> None:
        if self._chat.conversation_id is not None:
            self._conversations.set_draft(False)  # its first turn stored it
        self._conversations.set_records(self.pending_deletes.visible(listing.conversations))
        self._sidebar.select(self._chat.conversation_id)

    # One chat ------------------------------------------------------------------------------
    def open(self, conversation_id: int | None) -> None:
        try:
            self._chat.open_conversation(conversation_id)
        except StoreError as error:
            self._banner.show_message(str(error))
            return
        if conversation_id is not None:
            self._conversations.set_draft(False)
            self._settings.setValue(LAST_CONVERSATION_KEY, conversation_id)
        self._sidebar.select(conversation_id)
        self._view.scrollToBottom()
        self._view.set_following(True)

    def new(self) -> None:
        """An empty chat, selected at once; stored only when its first turn is sent."""
        self._conversations.set_draft(True)
        self._chat.new_conversation()
        self._sidebar.select(None)
        self._composer.focus()

    def rename(self, conversation_id: int) -> None:
        current = self._context.store.get_conversation(conversation_id).title
        title = text_dialog.ask_text(self._parent, "Rename conversation", "Title:", current)
        if title is not None and title.strip():
            self._change(lambda store: store.rename_conversation(conversation_id, title.strip()))

    def _title_of(self, conversation_id: int) -> str:
        row = self._conversations.row_of(conversation_id)
        return self._conversations.record(row).title if row >= 0 else "the chat"

    def _close_chat(self, conversation_id: int, deleting: bool) -> None:
        """A chat leaves the list: stop its reply and queued turns first if it is deleted."""
        if deleting:
            self._chat.forget_conversation(conversation_id)
        if conversation_id == self._chat.conversation_id:
            self.open(None)

    def archive(self, conversation_id: int, archived: bool) -> None:
        self.undoable.archive_conversation(
            conversation_id, archived, self._title_of(conversation_id)
        )

    def delete(self, conversation_id: int) -> None:
        """Hidden at once, with Undo in the banner; deleted for real when Undo goes."""
        self.undoable.delete_conversation(conversation_id, self._title_of(conversation_id))

    # Search --------------------------------------------------------------------------------
    def search(self, query: str) -> None:
        """Search in the background; the hits of the newest query show when they are found."""
        self.searcher.request(query)

    def _on_pending_deletes_changed(self) -> None:
        """A chat was deleted, brought back or deleted for good: the list and hits follow."""
        self.refresh()
        query = self._sidebar.search_edit.text().strip()
        if query and self._sidebar.results.isVisible():
            self.search(query)

    def _show_hits(self, hits: list[SearchHit]) -> None:
        self._sidebar.show_hits(self.pending_deletes.visible(hits, "conversation_id"))

    def jump_to_hit(self, hit: SearchHit) -> None:
        if hit.conversation_id in self.pending_deletes.hidden():
            return  # a hit shown before its chat was deleted
        self.open(hit.conversation_id)
        messages = self._chat.messages
        messages.ensure_position_loaded(hit.position)
        row = messages.row_of_position(hit.position)
        messages.set_highlight(highlight_stems(self._sidebar.search_edit.text(), hit.snippet))
        if row >= 0:
            index = messages.index(row)
            self._view.setCurrentIndex(index)
            self._view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
            self._view.set_following(False)
