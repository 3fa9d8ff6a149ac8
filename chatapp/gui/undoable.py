"""Changes the user can take back from the banner: deleting or archiving a chat, deleting a preset.

None of them asks "are you sure?": each is done at once and the banner offers Undo for a while.
A deleted chat is only hidden until the Undo window closes (`PendingDeletes`); an archived chat
is unarchived again; a deleted preset is saved again with the settings it had.
"""

from __future__ import annotations

from collections.abc import Callable

from chatapp.gui.actions import Change
from chatapp.gui.banner import Banner, BannerKind
from chatapp.gui.context import AppContext
from chatapp.gui.pending_delete import PendingDeletes
from chatapp.store import Store
from chatapp.store.records import PresetRecord
from engine.decoding.config import DecodeConfig

UNDO_MS = 20_000  # how long a delete or an archive can be taken back


class UndoableChanges:
    def __init__(
        self,
        context: AppContext,
        banner: Banner,
        pending: PendingDeletes,
        *,
        close_chat: Callable[[int, bool], None],
        open_chat: Callable[[int], None],
        add_preset: Callable[[str, DecodeConfig], None],
    ) -> None:
        self._context, self._banner, self._pending = context, banner, pending
        self._close_chat, self._open_chat, self._add_preset = close_chat, open_chat, add_preset

    def _offer_undo(self, text: str, undo: Callable[[], None], **kwargs: object) -> None:
        self._banner.show_message(
            text, kind=BannerKind.INFO, timeout_ms=UNDO_MS, action=("Undo", undo), **kwargs
        )

    # Chats ---------------------------------------------------------------------------------
    def delete_conversation(self, conversation_id: int, title: str) -> None:
        """Hide the chat now (its reply and queued turns are stopped first, by `close_chat`);
        delete it for real when the banner's Undo is dropped."""
        self._close_chat(conversation_id, True)
        self._pending.hide(conversation_id)
        self._offer_undo(
            f"Deleted “{title}”.",
            lambda: self._undo_delete(conversation_id),
            expired=lambda: self._pending.commit(conversation_id),
        )

    def _undo_delete(self, conversation_id: int) -> None:
        if self._pending.restore(conversation_id):
            self._open_chat(conversation_id)

    def archive_conversation(self, conversation_id: int, archived: bool, title: str) -> None:
        """Archive (with Undo in the banner) or unarchive a chat."""

        def archive(store: Store) -> None:
            store.archive_conversation(conversation_id, archived)

        def done(_: None) -> None:
            if not archived:
                return
            self._close_chat(conversation_id, False)
            self._offer_undo(
                f"Archived “{title}” (Show archived lists it).",
                lambda: self.archive_conversation(conversation_id, False, title),
            )

        self._context.actions.run(archive, success=done, changes=Change.CONVERSATIONS)

    # Presets -------------------------------------------------------------------------------
    def delete_preset(self, name: str) -> None:
        def delete(store: Store) -> PresetRecord | None:
            kept = next((p for p in store.list_presets() if p.name == name), None)
            store.delete_preset(name)
            return kept

        def deleted(record: PresetRecord | None) -> None:
            if record is not None:
                self._offer_undo(f"Deleted preset “{name}”.", lambda: self._restore_preset(record))

        self._context.actions.run(delete, success=deleted, changes=Change.PRESETS)

    def _restore_preset(self, record: PresetRecord) -> None:
        def save(store: Store) -> DecodeConfig:
            config = DecodeConfig.from_dict(record.config)  # ValueError: told, nothing saved
            store.save_preset(record.name, record.config)
            return config

        self._context.actions.run(
            save,
            success=lambda config: self._add_preset(record.name, config),
            changes=Change.PRESETS,
        )
