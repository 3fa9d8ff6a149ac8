"""The main window's menu bar (File, Edit, Chat, Settings, Help) and the dialogs and settings
its entries open or change."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu

from chatapp.correction_memory import SETTING_KEY as MEMORY_SETTING
from chatapp.gui.banner import Banner, BannerKind
from chatapp.gui.chat_controller import ChatController
from chatapp.gui.composer import SEND_KEY_SETTING, Composer
from chatapp.gui.context import AppContext
from chatapp.gui.conversations_controller import ConversationsController
from chatapp.gui.server_toggle import ServerToggle
from chatapp.gui.sidebar import Sidebar
from chatapp.gui.theme import AppearanceMenus


class WindowMenus(QObject):
    def __init__(
        self,
        window: QMainWindow,
        context: AppContext,
        settings: QSettings,
        *,
        chat: ChatController,
        chats: ConversationsController,
        sidebar: Sidebar,
        composer: Composer,
        banner: Banner,
        decoding_dock: QDockWidget,
        relayout_chat: Callable[[], None],
        model_dir: Callable[[], str | None],
        model_name: Callable[[], str],
    ) -> None:
        super().__init__(window)
        self._window, self._context, self._settings = window, context, settings
        self._chat, self._composer, self._banner = chat, composer, banner
        self._model_name = model_name
        bar = window.menuBar()
        self._build_file_menu(bar.addMenu("&File"), chats)
        self._action(
            bar.addMenu("&Edit"),
            "&Find in all conversations",
            sidebar.focus_search,
            QKeySequence.StandardKey.Find,
        )
        chat_menu = bar.addMenu("&Chat")
        self.regenerate_action = self._action(
            chat_menu, "&Regenerate reply", lambda: chat.regenerate(), "Ctrl+R"
        )
        self.stop_action = self._action(chat_menu, "&Stop reply", chat.stop, "Esc")
        self._build_settings_menu(bar.addMenu("&Settings"), decoding_dock, relayout_chat)
        self.server_toggle = ServerToggle(
            window,
            settings,
            model_dir=model_dir,
            device=context.paths.device,
            notify=context.show_message,
        )
        self.settings_menu.addAction(self.server_toggle.action)
        self._action(bar.addMenu("&Help"), "&About", self.show_about)

    def _action(self, menu: QMenu, text: str, slot: object, shortcut: object = None) -> QAction:
        action = QAction(text, self._window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_file_menu(self, menu: QMenu, chats: ConversationsController) -> None:
        self.new_action = self._action(menu, "&New chat", chats.new, QKeySequence.StandardKey.New)
        menu.addSeparator()
        self._action(
            menu, "Export conversation as &Markdown…", lambda: self.export_conversation("markdown")
        )
        self._action(
            menu, "Export conversation as &JSON…", lambda: self.export_conversation("json")
        )
        self._action(menu, "&Import conversations…", self.import_conversations)
        menu.addSeparator()
        self.finetune_action = self._action(
            menu, "&Fine-tune on my conversations…", self.open_finetune
        )
        self.models_action = self._action(menu, "M&odels…", self.open_models)
        menu.addSeparator()
        self._action(menu, "&Quit", self._window.close, QKeySequence.StandardKey.Quit)

    def _build_settings_menu(
        self, menu: QMenu, decoding_dock: QDockWidget, relayout_chat: Callable[[], None]
    ) -> None:
        self.settings_menu = menu
        self.appearance = AppearanceMenus(menu, self._settings, relayout_chat)
        self.ctrl_enter_action = QAction("Send with Ctrl+&Enter (Enter adds a line)", self._window)
        self.ctrl_enter_action.setCheckable(True)
        self.ctrl_enter_action.toggled.connect(self.set_ctrl_enter_sends)
        self.ctrl_enter_action.setChecked(self._settings.value(SEND_KEY_SETTING, False, type=bool))
        menu.addAction(self.ctrl_enter_action)
        menu.addAction(decoding_dock.toggleViewAction())
        self.memory_action = QAction("Answer from my &corrections at once", self._window)
        self.memory_action.setCheckable(True)
        self.memory_action.setToolTip(
            "When you send a turn whose reply you once corrected, answer with your correction "
            "at once (Details… says so), without waiting for a fine-tune."
        )
        self.memory_action.setChecked(self._settings.value(MEMORY_SETTING, True, type=bool))
        self.memory_action.toggled.connect(self.set_memory_enabled)
        self._chat.memory_enabled = self.memory_action.isChecked()
        menu.addAction(self.memory_action)

    # What the entries do ---------------------------------------------------------------------
    def export_conversation(self, kind: str) -> None:
        from chatapp.gui.transfer import export_conversation_dialog

        export_conversation_dialog(self._context, self._window, self._chat.conversation_id, kind)

    def import_conversations(self) -> None:
        from chatapp.gui.transfer import import_dialog

        import_dialog(self._context, self._window)

    def open_finetune(self) -> None:
        self._open_optional("finetune_dialog", "open_finetune_dialog", "Fine-tuning is")

    def open_models(self) -> None:
        self._open_optional("models_dialog", "open_models_dialog", "The models dialog is")

    def _open_optional(self, module: str, opener: str, what: str) -> None:
        """Open a dialog of a part a build may leave out (it needs torch), or say it is not
        there."""
        try:
            open_dialog = getattr(importlib.import_module(f"chatapp.gui.{module}"), opener)
        except ImportError:
            self._banner.show_message(f"{what} not available in this build.", kind=BannerKind.INFO)
            return
        open_dialog(self._context, self._window)

    def show_about(self) -> None:
        from chatapp.gui.about import show_about

        show_about(self._window, model=self._model_name(), model_dir=self._context.paths.model_dir)

    def set_ctrl_enter_sends(self, ctrl_enter: bool) -> None:
        self._settings.setValue(SEND_KEY_SETTING, ctrl_enter)
        self._composer.set_ctrl_enter_sends(ctrl_enter)

    def set_memory_enabled(self, enabled: bool) -> None:
        self._settings.setValue(MEMORY_SETTING, enabled)
        self._chat.memory_enabled = enabled
