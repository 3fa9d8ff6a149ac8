"""The main window: sidebar, chat view, composer and decoding panel, put together.

Its parts live beside it: the menus (`window_menus.py`), the status bar (`status_bar.py`),
which chat is open and the sidebar's list (`conversations_controller.py`) and what happens in
the open chat (`chat_controller.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QSplitter, QVBoxLayout, QWidget

from chatapp import APP_NAME
from chatapp.gui import saved_settings, text_dialog
from chatapp.gui.actions import Change
from chatapp.gui.banner import Banner, BannerKind
from chatapp.gui.chat_controller import ChatController
from chatapp.gui.chat_view import ChatView
from chatapp.gui.chip_actions import ChipAction
from chatapp.gui.composer import Composer
from chatapp.gui.context import AppContext
from chatapp.gui.conversation_model import ConversationListModel
from chatapp.gui.conversations_controller import ConversationsController
from chatapp.gui.db_watcher import DatabaseWatcher
from chatapp.gui.decoding_panel import DecodingPanel, PanelScrollArea, presets_from_store
from chatapp.gui.details_dialog import DetailsDialog, version_label
from chatapp.gui.dock_fit import DockFitter
from chatapp.gui.engine_worker import ModelInfo
from chatapp.gui.live_chat import LiveChat
from chatapp.gui.message_delegate import MessageDelegate
from chatapp.gui.message_model import MessageListModel, RecordRole
from chatapp.gui.sidebar import Sidebar
from chatapp.gui.status_bar import WindowStatus
from chatapp.gui.theme import apply_font_size, apply_theme
from chatapp.gui.timeouts import BANNER_BRIEF_MS, BANNER_NOTICE_MS, STATUS_CONFIRM_MS
from chatapp.gui.welcome import WelcomePane
from chatapp.gui.window_menus import WindowMenus
from chatapp.store import ModelVersionRecord, Store
from chatapp.store.records import MessageRecord
from engine.decoding.config import DecodeConfig

if TYPE_CHECKING:
    from engine import Reply

CHAT_MIN_WIDTH = 320  # px: below this the sidebar and the dock shrink instead


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
        self.decoding_panel = DecodingPanel(
            presets_from_store(store.list_presets()), self, settings=self.settings
        )
        self.controller = ChatController(
            context.actions,
            self.engine,
            self.messages,
            lambda: self.decoding_panel.config,
            show_archived=self.sidebar.archived_box.isChecked,
        )
        self.chats = ConversationsController(
            context,
            settings,
            self.controller,
            conversations=self.conversations,
            sidebar=self.sidebar,
            chat_view=self.chat_view,
            composer=self.composer,
            banner=self.banner,
            add_preset=self.decoding_panel.add_user_preset,
            parent=self,
        )
        self._build_layout()
        self.dock_fitter = DockFitter(self, self.decoding_dock, self.splitter)
        self._loaded_model: ModelInfo | None = None  # what the engine worker replies with
        self._model_name = ""  # the loaded model version, for Help › About
        self.menus = WindowMenus(
            self,
            context,
            settings,
            chat=self.controller,
            chats=self.chats,
            sidebar=self.sidebar,
            composer=self.composer,
            banner=self.banner,
            decoding_dock=self.decoding_dock,
            relayout_chat=self.chat_view.scheduleDelayedItemsLayout,
            model_dir=lambda: (
                self._loaded_model.directory if self._loaded_model else context.paths.model_dir
            ),
            model_name=lambda: self._model_name,
        )
        self.status_bar = WindowStatus(self)
        self._connect()
        self._details: DetailsDialog | None = None
        self._details_request: int | None = None
        self.chats.refresh()
        self.chats.open(self.chats.last_used())
        self._watch_the_database()
        context.counts.changed.connect(self.status_bar.show_counts)
        context.counts.refresh()
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

    def _watch_the_database(self) -> None:
        """Show what other programs write (`main.py chat --db` meanwhile): the list, the open
        chat, the fine-tune counts."""
        context = self.context
        self.db_watcher = DatabaseWatcher(context.store.path, self)
        self.db_watcher.changed.connect(self.chats.refresh_in_background)
        self.live_chat = LiveChat(context.store, self.controller, self.chat_view, self)
        self.db_watcher.changed.connect(self.live_chat.check)
        self.db_watcher.changed.connect(context.counts.refresh)
        # Only a write of ours: a read (Change.NONE) must not swallow another program's write.
        context.actions.changed.connect(
            lambda changes: changes and self.db_watcher.note_own_write()
        )

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
        self.controller.reply_stored.connect(self._on_reply_stored)
        self.messages.rowsInserted.connect(lambda *_: self.chat_view.request_follow())
        for changed in (self.messages.modelReset, self.messages.rowsInserted,
                        self.messages.rowsRemoved):  # fmt: skip
            changed.connect(self._update_welcome)
        self.welcome.opener_chosen.connect(self.send)
        self.messages.dataChanged.connect(lambda *_: self.chat_view.request_follow())
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
        self._model_name = version.name if version else info.directory
        self.status_bar.show_model(info, self._model_name)
        self.decoding_panel.set_reads_exemplars(info.reads_exemplars)

    def on_model_load_failed(self, message: str) -> None:
        if self._loaded_model is not None:
            # The worker keeps the model it had when a load fails: chatting goes on with it.
            self.banner.show_message(
                f"The model could not be loaded: {message}. Still chatting with the model "
                f"loaded before ({self._loaded_model.directory})."
            )
            return
        self.controller.set_model_ready(False)
        self.status_bar.show_no_model()
        self.banner.show_message(f"The model could not be loaded: {message}")

    def _update_welcome(self, *_: object) -> None:
        empty = self.messages.rowCount() == 0
        self.welcome.setVisible(empty)
        self.chat_view.setVisible(not empty)

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

    def _on_busy(self, busy: bool) -> None:
        self.composer.set_generating(busy)

    def _on_reply_stored(self, record: MessageRecord, reply: Reply) -> None:
        self.status_bar.show_reply(reply)

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

    # Presets -------------------------------------------------------------------------------------
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
        self.chats.undoable.delete_preset(name)

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
        self.chats.searcher.close()
        self.db_watcher.stop()  # no refresh from a store about to close
        self.live_chat.stop()
        self.context.signals.closing.emit()
        self.menus.server_toggle.shut_down()  # nothing serves the model once the app is gone
        self.context.shut_down()
        super().closeEvent(event)
