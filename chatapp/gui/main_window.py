"""The main window: sidebar, chat view, composer, decoding panel, menus and status bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QInputDialog,
    QLabel,
    QListView,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from chatapp import APP_NAME
from chatapp.correction_memory import SETTING_KEY as MEMORY_SETTING
from chatapp.gui import saved_settings
from chatapp.gui.banner import Banner
from chatapp.gui.chat_controller import ChatController
from chatapp.gui.chip_actions import ChipAction
from chatapp.gui.composer import Composer
from chatapp.gui.context import AppContext
from chatapp.gui.conversation_model import ConversationListModel
from chatapp.gui.decoding_panel import DecodingPanel
from chatapp.gui.details_dialog import DetailsDialog
from chatapp.gui.engine_worker import ModelInfo
from chatapp.gui.message_delegate import MessageDelegate
from chatapp.gui.message_model import MAX_LOADED_ROWS, PAGE_SIZE, MessageListModel, RecordRole
from chatapp.gui.search_runner import SearchRunner
from chatapp.gui.sidebar import Sidebar
from chatapp.gui.theme import apply_font_size, apply_theme
from chatapp.store import ModelVersionRecord
from chatapp.store.errors import StoreError
from chatapp.store.records import MessageRecord, SearchHit
from engine.decoding.config import DecodeConfig

if TYPE_CHECKING:
    from engine import Reply


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


class MainWindow(QMainWindow):
    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
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
        self.decoding_panel = DecodingPanel(user_presets, self)
        self.controller = ChatController(
            store, self.engine, self.messages, lambda: self.decoding_panel.config
        )
        self._build_layout()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self._details: DetailsDialog | None = None
        self._loaded_model: ModelInfo | None = None  # what the engine worker replies with
        self._details_request: int | None = None
        self.searcher = SearchRunner(self.store, self)  # search off the GUI thread
        self.searcher.found.connect(self.sidebar.show_hits)
        self.searcher.failed.connect(self.banner.show_message)
        self.refresh_conversations()
        records = self.conversations.rowCount()
        if records:
            self.open_conversation(self.conversations.record(0).id)
        self._restore_state()
        QTimer.singleShot(0, self.composer.focus)

    # Construction --------------------------------------------------------------------------
    def _build_layout(self) -> None:
        chat_side = QWidget(self)
        column = QVBoxLayout(chat_side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.chat_view, 1)
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
        scroll = QScrollArea(self.decoding_dock)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.decoding_panel)
        self.decoding_dock.setWidget(scroll)
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
        font_menu = settings_menu.addMenu("&Font size")
        for label, size in (("Small", 9), ("Normal", 11), ("Large", 13), ("Larger", 16)):
            self._action(font_menu, label, lambda _=False, s=size: self.set_font_size(s))
        theme_menu = settings_menu.addMenu("&Theme")
        for theme in ("system", "light", "dark"):
            self._action(theme_menu, theme.capitalize(), lambda _=False, t=theme: self.set_theme(t))
        settings_menu.addAction(self.decoding_dock.toggleViewAction())
        self.memory_action = QAction("Answer from my &corrections at once", self)
        self.memory_action.setCheckable(True)
        self.memory_action.setToolTip(
            "When you send a turn whose reply you once corrected, answer with your correction "
            "at once (Details… says so), without waiting for a fine-tune."
        )
        self.memory_action.setChecked(QSettings().value(MEMORY_SETTING, True, type=bool))
        self.memory_action.toggled.connect(self.set_memory_enabled)
        self.controller.memory_enabled = self.memory_action.isChecked()
        settings_menu.addAction(self.memory_action)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About", self.show_about)

    def _build_status_bar(self) -> None:
        self.model_label = QLabel("Loading model…", self)
        self.model_label.setObjectName("modelLabel")
        self.stats_label = QLabel("", self)
        self.stats_label.setObjectName("statsLabel")
        self.statusBar().addWidget(self.model_label, 1)
        self.statusBar().addPermanentWidget(self.stats_label)

    def _connect(self) -> None:
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.controller.stop)
        self.controller.error.connect(lambda text: self.banner.show_message(text))
        self.controller.notice.connect(
            lambda text: self.banner.show_message(text, kind="info", timeout_ms=8000)
        )
        self.controller.turn_not_saved.connect(self.give_back_unsent)
        self.controller.busy_changed.connect(self._on_busy)
        self.controller.conversations_changed.connect(self.refresh_conversations)
        self.controller.reply_stored.connect(self._on_reply_stored)
        self.messages.rowsInserted.connect(lambda *_: self.chat_view.request_follow())
        self.messages.dataChanged.connect(lambda *_: self.chat_view.request_follow())
        self.sidebar.conversation_selected.connect(self.open_conversation)
        self.sidebar.new_requested.connect(self.new_conversation)
        self.sidebar.rename_requested.connect(self.rename_conversation)
        self.sidebar.pin_requested.connect(
            lambda cid, pinned: self._store_call(self.store.pin_conversation, cid, pinned)
        )
        self.sidebar.archive_requested.connect(self.archive_conversation)
        self.sidebar.delete_requested.connect(self.delete_conversation)
        self.sidebar.search_requested.connect(self.search)
        self.sidebar.hit_activated.connect(self.jump_to_hit)
        self.sidebar.show_archived_changed.connect(lambda _: self.refresh_conversations())
        self.delegate.action_triggered.connect(self.on_message_action)
        self.decoding_panel.preset_saved.connect(
            lambda name, cfg: self._store_call(self.store.save_preset, name, cfg.to_dict())
        )
        self.context.signals.message_shown.connect(
            lambda text, kind, timeout_ms: self.banner.show_message(
                text, kind=kind, timeout_ms=timeout_ms
            )
        )
        self.context.actions.failed.connect(self.banner.show_message)
        self.context.switcher.model_ready.connect(self.on_model_loaded)
        self.engine.model_load_failed.connect(self.on_model_load_failed)
        self.engine.attention_ready.connect(self._on_attention)

    # Model -----------------------------------------------------------------------------------
    def on_model_loaded(self, info: ModelInfo, version: ModelVersionRecord | None) -> None:
        """The engine loaded a model and the switcher recorded its version (None: not recorded)."""
        self._loaded_model = info
        self.controller.set_model_ready(True, version.id if version else None)
        name = version.name if version else info.directory
        size = f", {info.parameters / 1e6:.1f}M parameters" if info.parameters else ""
        quantized = ", int8" if info.quantized else ""
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
    def _store_call(self, function: object, *args: object) -> object:
        try:
            result = function(*args)
        except (StoreError, ValueError) as error:
            self.banner.show_message(str(error))
            return None
        self.refresh_conversations()
        return result

    def refresh_conversations(self) -> None:
        try:
            records = self.store.list_conversations(
                include_archived=self.sidebar.archived_box.isChecked()
            )
        except StoreError as error:
            self.banner.show_message(str(error))
            return
        self.conversations.set_records(records)
        self.sidebar.select(self.controller.conversation_id)

    def open_conversation(self, conversation_id: int | None) -> None:
        try:
            self.controller.open_conversation(conversation_id)
        except StoreError as error:
            self.banner.show_message(str(error))
            return
        self.sidebar.select(conversation_id)
        self.chat_view.scrollToBottom()
        self.chat_view._following = True

    def new_conversation(self) -> None:
        try:
            self.controller.new_conversation()
        except StoreError as error:
            self.banner.show_message(str(error))
        self.composer.focus()

    def rename_conversation(self, conversation_id: int) -> None:
        current = self.store.get_conversation(conversation_id).title
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=current)
        if ok and title.strip():
            self._store_call(self.store.rename_conversation, conversation_id, title.strip())

    def archive_conversation(self, conversation_id: int, archived: bool) -> None:
        self._store_call(self.store.archive_conversation, conversation_id, archived)
        if archived and conversation_id == self.controller.conversation_id:
            self.open_conversation(None)

    def delete_conversation(self, conversation_id: int, *, confirm: bool = True) -> None:
        title = self.store.get_conversation(conversation_id).title
        if confirm:
            answer = QMessageBox.question(
                self,
                "Delete conversation",
                f"Delete “{title}” and all its messages? This cannot be undone.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._store_call(self.store.delete_conversation, conversation_id)
        if conversation_id == self.controller.conversation_id:
            self.open_conversation(None)

    def search(self, query: str) -> None:
        """Search in the background; the hits of the newest query show when they are found."""
        self.searcher.request(query)

    def jump_to_hit(self, hit: SearchHit) -> None:
        self.open_conversation(hit.conversation_id)
        self.messages.ensure_position_loaded(hit.position)
        row = self.messages.row_of_position(hit.position)
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
                kind="info",
                timeout_ms=4000,
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
            return
        chip = ChipAction(action)  # a plain string from a test or a script works too
        match chip:
            case ChipAction.COPY:
                QGuiApplication.clipboard().setText(record.text)
                self.statusBar().showMessage("Copied to the clipboard", 2000)
            case ChipAction.REGENERATE:
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

    def ask_correction(self, record: MessageRecord) -> None:
        text, ok = QInputDialog.getMultiLineText(
            self, "Write a better reply",
            "What should the bot have said? (Fine-tuning learns from it.)",
            record.corrected_text or record.text,
        )  # fmt: skip
        if ok:
            self.controller.correct(record.id, text)

    def ask_edit(
        self, record: MessageRecord, text: str | None = None, *, confirm: bool = True
    ) -> None:
        if text is None:
            text, ok = QInputDialog.getMultiLineText(
                self, "Edit and resend", "Your message:", record.text
            )
            if not ok:
                return
        later = self.store.message_count(record.conversation_id) - record.position - 1
        if confirm and later > 0:
            answer = QMessageBox.question(
                self, "Edit and resend",
                f"Resending drops the {later} message(s) after this one. Continue?",
            )  # fmt: skip
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.controller.edit_and_resend(record.id, text)

    def show_details(self, record: MessageRecord) -> DetailsDialog:
        versions = {v.id: v.name for v in self.store.list_model_versions()}
        dialog = DetailsDialog(record, versions.get(record.model_version_id, "unknown"), self)
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
            self.banner.show_message("Fine-tuning is not available in this build.", kind="info")
            return
        open_finetune_dialog(self.context, self)

    def open_models(self) -> None:
        try:
            from chatapp.gui.models_dialog import open_models_dialog
        except ImportError:
            self.banner.show_message(
                "The models dialog is not available in this build.", kind="info"
            )
            return
        open_models_dialog(self.context, self)

    def show_about(self) -> None:
        from chatapp.gui.about import show_about

        show_about(self)

    def set_font_size(self, size: int) -> None:
        apply_font_size(size)
        QSettings().setValue("ui/font_size", size)
        self.chat_view.scheduleDelayedItemsLayout()

    def set_memory_enabled(self, enabled: bool) -> None:
        QSettings().setValue(MEMORY_SETTING, enabled)
        self.controller.memory_enabled = enabled

    def set_theme(self, theme: str) -> None:
        apply_theme(theme)
        QSettings().setValue("ui/theme", theme)

    # Window state ----------------------------------------------------------------------------
    def _restore_state(self) -> None:
        settings = QSettings()
        saved_settings.restore(settings, "window/geometry", self.restoreGeometry)
        saved_settings.restore(settings, "window/state", self.restoreState)
        saved_settings.restore(settings, "window/splitter", self.splitter.restoreState)
        reset = saved_settings.take_reset_keys()
        if reset:
            self.banner.show_message(
                "Some saved settings could not be read and are back to their defaults: "
                f"{', '.join(reset)}.",
                kind="warning",
            )

    def closeEvent(self, event: QCloseEvent) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/splitter", self.splitter.saveState())
        self.controller.stop()
        self.searcher.close()
        self.context.signals.closing.emit()
        self.context.shut_down()
        super().closeEvent(event)
