"""The main window: sidebar, chat view, composer, decoding panel, menus and status bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFrame,
    QMainWindow,
    QMenu,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from chatapp import APP_NAME
from chatapp.correction_memory import SETTING_KEY as MEMORY_SETTING
from chatapp.gui import saved_settings, text_dialog
from chatapp.gui.actions import Change
from chatapp.gui.banner import Banner, BannerKind
from chatapp.gui.chat_controller import ChatController
from chatapp.gui.chat_view import ChatView
from chatapp.gui.chip_actions import ChipAction
from chatapp.gui.composer import SEND_KEY_SETTING, Composer
from chatapp.gui.context import AppContext
from chatapp.gui.conversation_model import ConversationListModel
from chatapp.gui.db_watcher import DatabaseWatcher
from chatapp.gui.decoding_panel import DecodingPanel, PanelScrollArea
from chatapp.gui.details_dialog import DetailsDialog, version_label
from chatapp.gui.dock_fit import DockFitter
from chatapp.gui.elide import ElidedLabel
from chatapp.gui.engine_worker import ModelInfo
from chatapp.gui.live_chat import LiveChat
from chatapp.gui.message_delegate import MessageDelegate
from chatapp.gui.message_model import MessageListModel, RecordRole
from chatapp.gui.pending_delete import PendingDeletes
from chatapp.gui.search_results import highlight_stems
from chatapp.gui.search_runner import SearchRunner
from chatapp.gui.server_toggle import ServerToggle
from chatapp.gui.sidebar import Sidebar
from chatapp.gui.teach_counts import status_text
from chatapp.gui.theme import AppearanceMenus, apply_font_size, apply_theme
from chatapp.gui.timeouts import BANNER_BRIEF_MS, BANNER_NOTICE_MS, STATUS_CONFIRM_MS
from chatapp.gui.turns import Listing, read_listing
from chatapp.gui.undoable import UndoableChanges
from chatapp.gui.welcome import WelcomePane
from chatapp.store import ModelVersionRecord, Store
from chatapp.store.errors import StoreError
from chatapp.store.records import MessageRecord, SearchHit
from engine.decoding.config import DecodeConfig

if TYPE_CHECKING:
    from engine import Reply

CHAT_MIN_WIDTH = 320  # px: below this the sidebar and the dock shrink instead
LAST_CONVERSATION_KEY = "sidebar/last_conversation"


class MainWindow(QMainWindow):
    def __init__(self, context: AppContext) -> None:
        # What the user sets lives with the data dir (beside the database), not in QSettings().
        settings = saved_settings.data_settings(context.store.path)
        # Before any widget is made, this window included: a widget made earlier is first laid
        # out at the old size (the dock cut off) until the font change reaches it.
        font_size, theme = saved_settings.saved_appearance(settings)
        apply_theme(theme)
        apply_font_size(font_size)
        super().__init__()
        self.context, self.settings = context, settings
        self.store, self.engine = context.store, context.engine
        store = context.store
        self.setWindowTitle(APP_NAME)
        self.resize(1100, 720)
        self.conversations = ConversationListModel()
        self.messages = MessageListModel(store)
        self.sidebar = Sidebar(self.conversations, self)
        self.chat_view = ChatView(self)
        self.chat_view.setModel(self.messages)
        self.delegate = MessageDelegate(self.chat_view)
        self.chat_view.setItemDelegate(self.delegate)
        self.banner = Banner(self)
        self.composer = Composer(self)
        user_presets = {}
        for preset in store.list_presets():
            try:
                user_presets[preset.name] = DecodeConfig.from_dict(preset.config)
            except ValueError:
                continue  # a preset of an older version with knobs that no longer exist
        self.decoding_panel = DecodingPanel(user_presets, self, settings=self.settings)
        self.controller = ChatController(
            context.actions,
            self.engine,
            self.messages,
            lambda: self.decoding_panel.config,
            show_archived=self.sidebar.archived_box.isChecked,
        )
        self.pending_deletes = PendingDeletes(context.actions, self)
        self.undoable = UndoableChanges(
            context,
            self.banner,
            self.pending_deletes,
            close_chat=self._close_chat,
            open_chat=self.open_conversation,
            add_preset=self.decoding_panel.add_user_preset,
        )
        self._build_layout()
        self.dock_fitter = DockFitter(self, self.decoding_dock, self.splitter)
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self._details: DetailsDialog | None = None
        self._loaded_model: ModelInfo | None = None  # what the engine worker replies with
        self._model_name = ""  # the loaded model version, for Help › About
        self._details_request: int | None = None
        self.searcher = SearchRunner(self.store, self)  # search off the GUI thread
        self.searcher.found.connect(self._show_hits)
        self.searcher.failed.connect(self.banner.show_message)
        self.refresh_conversations()
        self.open_conversation(self._last_used_conversation())
        self.db_watcher = DatabaseWatcher(store.path, self)  # `main.py chat --db` meanwhile
        self.db_watcher.changed.connect(self.refresh_conversations_in_background)
        self.live_chat = LiveChat(store, self.controller, self.chat_view, self)
        self.db_watcher.changed.connect(self.live_chat.check)  # the open chat shows them too
        self.db_watcher.changed.connect(context.counts.refresh)
        context.counts.changed.connect(lambda counts: self.teach_label.setText(status_text(counts)))
        context.counts.refresh()
        # Only a write of ours: a read (Change.NONE) must not swallow another program's write.
        context.actions.changed.connect(
            lambda changes: changes and self.db_watcher.note_own_write()
        )
        context.actions.changed.connect(self._on_store_changed)
        self._restore_state()
        QTimer.singleShot(0, self.composer.focus)

    # Construction --------------------------------------------------------------------------
    def _build_layout(self) -> None:
        chat_side = QWidget(self)
        # In a small window the sidebar and the dock give way; the chat keeps a readable width.
        chat_side.setMinimumWidth(CHAT_MIN_WIDTH)
        column = QVBoxLayout(chat_side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.chat_view, 1)
        self.welcome = WelcomePane(chat_side)  # an empty chat shows this instead
        column.addWidget(self.welcome, 1)
        column.addWidget(self.banner)
        column.addWidget(self.composer)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(chat_side)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 840])
        self.setCentralWidget(self.splitter)
        self.decoding_dock = QDockWidget("Decoding", self)
        self.decoding_dock.setObjectName("decodingDock")
        self.decoding_dock.setWidget(PanelScrollArea(self.decoding_panel, self.decoding_dock))
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.decoding_dock)

    def _action(self, menu: object, text: str, slot: object, shortcut: object = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.new_action = self._action(
            file_menu, "&New chat", self.new_conversation, QKeySequence.StandardKey.New
        )
        file_menu.addSeparator()
        self._action(
            file_menu,
            "Export conversation as &Markdown…",
            lambda: self.export_conversation("markdown"),
        )
        self._action(
            file_menu, "Export conversation as &JSON…", lambda: self.export_conversation("json")
        )
        self._action(file_menu, "&Import conversations…", self.import_conversations)
        file_menu.addSeparator()
        self.finetune_action = self._action(
            file_menu, "&Fine-tune on my conversations…", self.open_finetune
        )
        self.models_action = self._action(file_menu, "M&odels…", self.open_models)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit_menu = bar.addMenu("&Edit")
        self._action(
            edit_menu,
            "&Find in all conversations",
            self.sidebar.focus_search,
            QKeySequence.StandardKey.Find,
        )
        chat_menu = bar.addMenu("&Chat")
        self.regenerate_action = self._action(
            chat_menu, "&Regenerate reply", self.regenerate_last, "Ctrl+R"
        )
        self.stop_action = self._action(chat_menu, "&Stop reply", self.controller.stop, "Esc")
        settings_menu = bar.addMenu("&Settings")
        self.appearance = AppearanceMenus(
            settings_menu, self.settings, self.chat_view.scheduleDelayedItemsLayout
        )
        self.ctrl_enter_action = QAction("Send with Ctrl+&Enter (Enter adds a line)", self)
        self.ctrl_enter_action.setCheckable(True)
        self.ctrl_enter_action.toggled.connect(self.set_ctrl_enter_sends)
        self.ctrl_enter_action.setChecked(self.settings.value(SEND_KEY_SETTING, False, type=bool))
        settings_menu.addAction(self.ctrl_enter_action)
        settings_menu.addAction(self.decoding_dock.toggleViewAction())
        self.memory_action = QAction("Answer from my &corrections at once", self)
        self.memory_action.setCheckable(True)
        self.memory_action.setToolTip(
            "When you send a turn whose reply you once corrected, answer with your correction "
            "at once (Details… says so), without waiting for a fine-tune."
        )
        self.memory_action.setChecked(self.settings.value(MEMORY_SETTING, True, type=bool))
        self.memory_action.toggled.connect(self.set_memory_enabled)
        self.controller.memory_enabled = self.memory_action.isChecked()
        settings_menu.addAction(self.memory_action)
        self.server_toggle = ServerToggle(
            self,
            self.settings,
            model_dir=lambda: (
                self._loaded_model.directory if self._loaded_model else self.context.paths.model_dir
            ),
            device=self.context.paths.device,
            notify=self.context.show_message,
        )
        settings_menu.addAction(self.server_toggle.action)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About", self.show_about)

    def _build_status_bar(self) -> None:
        self.model_label = ElidedLabel("Loading model…", self)  # cut at a word when narrow
        self.model_label.setObjectName("modelLabel")
        self.stats_label = ElidedLabel("", self)
        self.stats_label.setObjectName("statsLabel")
        self.statusBar().addWidget(self.model_label, 1)
        self.statusBar().addPermanentWidget(self.stats_label)
        self.teach_label = ElidedLabel("", self)
        self.teach_label.setObjectName("teachLabel")
        self.teach_label.setToolTip(
            "What File › Fine-tune can learn from: replies you corrected, replies you marked "
            "Good, and your own turns."
        )
        divider = QFrame(self)  # the reply's timing and the fine-tune counts read as two things
        divider.setFrameShape(QFrame.Shape.VLine)
        divider.setFrameShadow(QFrame.Shadow.Sunken)
        self.statusBar().addPermanentWidget(divider)
        self.statusBar().addPermanentWidget(self.teach_label)

    def _connect(self) -> None:
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.controller.stop)
        self.composer.paste_refused.connect(lambda why: self.banner.show_message(why))
        self.controller.error.connect(lambda text: self.banner.show_message(text))
        self.controller.notice.connect(
            lambda text: self.banner.show_message(
                text, kind=BannerKind.INFO, timeout_ms=BANNER_NOTICE_MS
            )
        )
        self.controller.turn_not_saved.connect(self.give_back_unsent)
        self.controller.busy_changed.connect(self._on_busy)
        self.controller.conversations_changed.connect(self.show_listing)
        self.controller.reply_stored.connect(self._on_reply_stored)
        self.messages.rowsInserted.connect(lambda *_: self.chat_view.request_follow())
        for changed in (self.messages.modelReset, self.messages.rowsInserted,
                        self.messages.rowsRemoved):  # fmt: skip
            changed.connect(self._update_welcome)
        self.welcome.opener_chosen.connect(self.send)
        self.messages.dataChanged.connect(lambda *_: self.chat_view.request_follow())
        self.sidebar.conversation_selected.connect(self.open_conversation)
        self.sidebar.new_requested.connect(self.new_conversation)
        self.sidebar.rename_requested.connect(self.rename_conversation)
        self.sidebar.pin_requested.connect(
            lambda cid, pinned: self._change_conversations(
                lambda store: store.pin_conversation(cid, pinned)
            )
        )
        self.sidebar.archive_requested.connect(self.archive_conversation)
        self.pending_deletes.changed.connect(self._on_pending_deletes_changed)
        self.sidebar.delete_requested.connect(self.delete_conversation)
        self.sidebar.search_requested.connect(self.search)
        self.sidebar.hit_activated.connect(self.jump_to_hit)
        self.sidebar.show_archived_changed.connect(lambda _: self.refresh_conversations())
        self.delegate.action_triggered.connect(self.on_message_action)
        # The chips by keyboard: the menu key (or a right click) lists the current row's chips.
        self.chat_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.chat_view.customContextMenuRequested.connect(self.chip_menu)
        self.decoding_panel.preset_saved.connect(self._save_preset)
        self.decoding_panel.preset_renamed.connect(self._rename_preset)
        self.decoding_panel.preset_deleted.connect(self._delete_preset)
        self.context.signals.message_shown.connect(
            lambda text, kind, timeout_ms: self.banner.show_message(
                text, kind=kind, timeout_ms=timeout_ms
            )
        )
        self.context.actions.failed.connect(self.banner.show_message)
        self.context.switcher.model_ready.connect(self.on_model_loaded)
        self.engine.model_load_failed.connect(self.on_model_load_failed)
        self.engine.attention_ready.connect(self._on_attention)
        self.engine.generation_failed.connect(self._on_explain_failed)

    # Model -----------------------------------------------------------------------------------
    def on_model_loaded(self, info: ModelInfo, version: ModelVersionRecord | None) -> None:
        """The engine loaded a model and the switcher recorded its version (None: not recorded)."""
        self._loaded_model = info
        self.controller.set_model_ready(True, version.id if version else None)
        name = version.name if version else info.directory
        size = f", {info.parameters / 1e6:.1f}M parameters" if info.parameters else ""
        quantized = ", int8" if info.quantized else ""
        self._model_name = name
        self.model_label.setText(f"Model: {name} ({info.device}{size}{quantized})")
        self.model_label.setToolTip(info.directory)

    def on_model_load_failed(self, message: str) -> None:
        if self._loaded_model is not None:
            # The worker keeps the model it had when a load fails: chatting goes on with it.
            self.banner.show_message(
                f"The model could not be loaded: {message}. Still chatting with the model "
                f"loaded before ({self._loaded_model.directory})."
            )
            return
        self.controller.set_model_ready(False)
        self.model_label.setText("No model loaded")
        self.banner.show_message(f"The model could not be loaded: {message}")

    # Conversations -----------------------------------------------------------------------------
    def _change_conversations(
        self, op: Callable[[Store], object], then: Callable[[], None] | None = None
    ) -> None:
        """Change conversations in the background; `changed` then shows the list as it is."""
        success = (lambda _: then()) if then is not None else None
        self.context.actions.run(op, success=success, changes=Change.CONVERSATIONS)

    def _last_used_conversation(self) -> int | None:
        """The chat open when the app last closed; else the one used most recently (not the
        pinned one that heads the list)."""
        records = self.conversations.stored_records()
        last = self.settings.value(LAST_CONVERSATION_KEY, None)
        ids = {record.id for record in records}
        if last is not None and str(last).isdigit() and int(last) in ids:
            return int(last)
        newest = max(records, key=lambda r: r.updated_at, default=None)
        return newest.id if newest else None

    def refresh_conversations(self) -> None:
        """Read the list now (a user's change to it, or start-up)."""
        try:
            listing = read_listing(self.store, archived=self.sidebar.archived_box.isChecked())
        except StoreError as error:
            self.banner.show_message(str(error))
            return
        self.show_listing(listing)

    def refresh_conversations_in_background(self) -> None:
        """Read the list off the GUI thread (another program wrote the database)."""
        archived = self.sidebar.archived_box.isChecked()
        self.context.actions.run(
            lambda store: read_listing(store, archived=archived), success=self.show_listing
        )

    def _on_store_changed(self, changes: Change) -> None:
        """Show the list after a change that did not bring its own (a turn's action does)."""
        if changes == Change.CONVERSATIONS:
            self.refresh_conversations()  # an import, a restore: the list as it is now

    def show_listing(self, listing: Listing) -> None:
        if self.controller.conversation_id is not None:
            self.conversations.set_draft(False)  # its first turn stored it
        self.conversations.set_records(self.pending_deletes.visible(listing.conversations))
        self.sidebar.select(self.controller.conversation_id)

    def _update_welcome(self, *_: object) -> None:
        empty = self.messages.rowCount() == 0
        self.welcome.setVisible(empty)
        self.chat_view.setVisible(not empty)

    def open_conversation(self, conversation_id: int | None) -> None:
        try:
            self.controller.open_conversation(conversation_id)
        except StoreError as error:
            self.banner.show_message(str(error))
            return
        if conversation_id is not None:
            self.conversations.set_draft(False)
            self.settings.setValue(LAST_CONVERSATION_KEY, conversation_id)
        self.sidebar.select(conversation_id)
        self.chat_view.scrollToBottom()
        self.chat_view._following = True

    def new_conversation(self) -> None:
        """An empty chat, selected at once; stored only when its first turn is sent."""
        self.conversations.set_draft(True)
        self.controller.new_conversation()
        self.sidebar.select(None)
        self.composer.focus()

    def rename_conversation(self, conversation_id: int) -> None:
        current = self.store.get_conversation(conversation_id).title
        title = text_dialog.ask_text(self, "Rename conversation", "Title:", current)
        if title is not None and title.strip():
            self._change_conversations(
                lambda store: store.rename_conversation(conversation_id, title.strip())
            )

    def _title_of(self, conversation_id: int) -> str:
        row = self.conversations.row_of(conversation_id)
        return self.conversations.record(row).title if row >= 0 else "the chat"

    def _close_chat(self, conversation_id: int, deleting: bool) -> None:
        """A chat leaves the list: stop its reply and queued turns first if it is deleted."""
        if deleting:
            self.controller.forget_conversation(conversation_id)
        if conversation_id == self.controller.conversation_id:
            self.open_conversation(None)

    def archive_conversation(self, conversation_id: int, archived: bool) -> None:
        self.undoable.archive_conversation(
            conversation_id, archived, self._title_of(conversation_id)
        )

    def delete_conversation(self, conversation_id: int) -> None:
        """Hidden at once, with Undo in the banner; deleted for real when Undo goes."""
        self.undoable.delete_conversation(conversation_id, self._title_of(conversation_id))

    def search(self, query: str) -> None:
        """Search in the background; the hits of the newest query show when they are found."""
        self.searcher.request(query)

    def _on_pending_deletes_changed(self) -> None:
        """A chat was deleted, brought back or deleted for good: the list and hits follow."""
        self.refresh_conversations()
        query = self.sidebar.search_edit.text().strip()
        if query and self.sidebar.results.isVisible():
            self.search(query)

    def _show_hits(self, hits: list[SearchHit]) -> None:
        self.sidebar.show_hits(self.pending_deletes.visible(hits, "conversation_id"))

    def jump_to_hit(self, hit: SearchHit) -> None:
        if hit.conversation_id in self.pending_deletes.hidden():
            return  # a hit shown before its chat was deleted
        self.open_conversation(hit.conversation_id)
        self.messages.ensure_position_loaded(hit.position)
        row = self.messages.row_of_position(hit.position)
        self.messages.set_highlight(highlight_stems(self.sidebar.search_edit.text(), hit.snippet))
        if row >= 0:
            index = self.messages.index(row)
            self.chat_view.setCurrentIndex(index)
            self.chat_view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
            self.chat_view._following = False

    # Chat ----------------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        self.banner.hide()  # an old message no longer applies; what this send says shows below
        if not self.controller.send(text):
            return  # refused or not saved: the text stays in the box
        self.composer.clear()
        if not self.controller.model_ready:
            self.banner.show_message(
                "The model is still loading; your message will be answered when it is ready.",
                kind=BannerKind.INFO,
                timeout_ms=BANNER_BRIEF_MS,
            )

    def give_back_unsent(self, text: str) -> None:
        """Put a queued turn the store refused back in the box, before anything typed since."""
        typed = self.composer.text()
        self.composer.set_text(f"{text}\n{typed}" if typed.strip() else text)

    def regenerate_last(self) -> None:
        self.controller.regenerate()

    def _on_busy(self, busy: bool) -> None:
        self.composer.set_generating(busy)

    def _on_reply_stored(self, record: MessageRecord, reply: Reply) -> None:
        ttft = f"{reply.first_token_ms:.0f} ms to first token, " if reply.first_token_ms else ""
        self.stats_label.setText(
            f"Last reply: {ttft}{reply.total_ms:.0f} ms, {len(reply.tokens)} tokens, "
            f"{reply.tokens_per_second:.0f} tokens/s"
        )

    def on_message_action(self, action: ChipAction, row: int) -> None:
        record: MessageRecord | None = self.messages.index(row).data(RecordRole)
        if record is None:
            if action == ChipAction.RETRY:  # a turn stopped before any reply was kept
                self.controller.retry()
            return
        chip = ChipAction(action)  # a plain string from a test or a script works too
        match chip:
            case ChipAction.COPY:
                QGuiApplication.clipboard().setText(record.text)
                self.statusBar().showMessage("Copied to the clipboard", STATUS_CONFIRM_MS)
            case ChipAction.REGENERATE | ChipAction.RETRY:
                self.controller.regenerate(record.id)
            case ChipAction.PREVIOUS | ChipAction.NEXT:
                step = -1 if chip is ChipAction.PREVIOUS else 1
                self.controller.step_alternative(record.id, step)
            case ChipAction.LIKE | ChipAction.DISLIKE:
                self.controller.rate(record.id, 1 if chip is ChipAction.LIKE else -1)
            case ChipAction.CORRECT:
                self.ask_correction(record)
            case ChipAction.DETAILS:
                self.show_details(record)
            case ChipAction.EDIT:
                self.ask_edit(record)

    def chip_menu(self, point: QPoint) -> QMenu | None:
        index = self.chat_view.indexAt(point)
        if not index.isValid():
            index = self.chat_view.currentIndex()
        chips = [chip for chip in self.delegate.chips(index) if chip[0] != ChipAction.COUNTER]
        if not index.isValid() or not chips:
            return None
        menu = QMenu(self)
        names = {ChipAction.PREVIOUS: "‹ Previous version", ChipAction.NEXT: "Next version ›"}
        for action, label in chips:
            menu.addAction(
                names.get(action, label), lambda a=action: self.on_message_action(a, index.row())
            )
        menu.popup(self.chat_view.viewport().mapToGlobal(self.chat_view.visualRect(index).center()))
        return menu

    def ask_correction(self, record: MessageRecord) -> None:
        text = text_dialog.ask_text(
            self, "Write a better reply",
            "What should the bot have said? (Fine-tuning learns from it.)",
            record.corrected_text or record.text, multiline=True,
        )  # fmt: skip
        if text is not None:
            self.controller.correct(record.id, text)

    def ask_edit(self, record: MessageRecord, text: str | None = None) -> None:
        if text is None:
            text = text_dialog.ask_text(
                self, "Edit and resend", "Your message:", record.text, multiline=True
            )
            if text is None:
                return
        # Nothing is lost (the old turn and its replies stay a ‹ › away), so nothing to confirm.
        self.controller.edit_and_resend(record.id, text)

    def show_details(self, record: MessageRecord) -> DetailsDialog:
        versions = {v.id: v.name for v in self.store.list_model_versions()}
        dialog = DetailsDialog(record, version_label(record, versions), self)
        dialog.alternative_picked.connect(self.controller.use_text_as_alternative)
        self._details = dialog
        cached = self.controller.attention_cache.get(record.id)
        if cached:
            dialog.show_attention(*cached)
        elif self.controller.model_ready:
            history = self.store.history(record.conversation_id, upto_position=record.position)
            self._details_request = self.engine.explain(history, record.text)
        dialog.show()
        return dialog

    def _on_attention(self, request_id: int, result: tuple) -> None:
        if self._details is not None and request_id == self._details_request:
            self._details.show_attention(*result)

    def _on_explain_failed(self, request_id: int, message: str) -> None:
        if self._details is not None and request_id == self._details_request:
            self._details.show_attention_failed(message)

    # Other dialogs -------------------------------------------------------------------------------
    def export_conversation(self, kind: str) -> None:
        from chatapp.gui.transfer import export_conversation_dialog

        export_conversation_dialog(self.context, self, self.controller.conversation_id, kind)

    def import_conversations(self) -> None:
        from chatapp.gui.transfer import import_dialog

        import_dialog(self.context, self)

    def open_finetune(self) -> None:
        try:
            from chatapp.gui.finetune_dialog import open_finetune_dialog
        except ImportError:
            self.banner.show_message(
                "Fine-tuning is not available in this build.", kind=BannerKind.INFO
            )
            return
        open_finetune_dialog(self.context, self)

    def open_models(self) -> None:
        try:
            from chatapp.gui.models_dialog import open_models_dialog
        except ImportError:
            self.banner.show_message(
                "The models dialog is not available in this build.", kind=BannerKind.INFO
            )
            return
        open_models_dialog(self.context, self)

    def show_about(self) -> None:
        from chatapp.gui.about import show_about

        show_about(self, model=self._model_name, model_dir=self.context.paths.model_dir)

    def set_font_size(self, size: int) -> None:
        self.appearance.set_font_size(size)

    def set_ctrl_enter_sends(self, ctrl_enter: bool) -> None:
        self.settings.setValue(SEND_KEY_SETTING, ctrl_enter)
        self.composer.set_ctrl_enter_sends(ctrl_enter)

    def _save_preset(self, name: str, config: DecodeConfig) -> None:
        self.context.actions.run(
            lambda store: store.save_preset(name, config.to_dict()), changes=Change.PRESETS
        )

    def _rename_preset(self, old: str, new: str, config: DecodeConfig) -> None:
        def rename(store: Store) -> None:
            store.save_preset(new, config.to_dict())
            store.delete_preset(old)

        self.context.actions.run(rename, changes=Change.PRESETS)

    def _delete_preset(self, name: str) -> None:
        self.undoable.delete_preset(name)

    def set_memory_enabled(self, enabled: bool) -> None:
        self.settings.setValue(MEMORY_SETTING, enabled)
        self.controller.memory_enabled = enabled

    def set_theme(self, theme: str) -> None:
        self.appearance.set_theme(theme)

    # Window state ----------------------------------------------------------------------------
    def _restore_state(self) -> None:
        settings = QSettings()
        saved_settings.restore(settings, "window/geometry", self.restoreGeometry)
        saved_settings.restore(settings, "window/state", self.restoreState)
        saved_settings.restore(settings, "window/splitter", self.splitter.restoreState)
        notes = [saved_settings.file_problem(self.settings)]
        reset = saved_settings.take_reset_keys()
        if reset:
            notes.append(
                "Some saved settings could not be read and are back to their defaults: "
                f"{', '.join(reset)}."
            )
        if any(notes):
            self.banner.show_message(
                " ".join(note for note in notes if note), kind=BannerKind.WARNING
            )

    def closeEvent(self, event: QCloseEvent) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.sync()  # the data dir's settings file, written now rather than at exit
        self.controller.stop()
        self.banner.expire()  # a chat deleted inside the Undo window goes now
        self.searcher.close()
        self.db_watcher.stop()  # no refresh from a store about to close
        self.live_chat.stop()
        self.context.signals.closing.emit()
        self.server_toggle.shut_down()  # nothing serves the model once the app is gone
        self.context.shut_down()
        super().closeEvent(event)
