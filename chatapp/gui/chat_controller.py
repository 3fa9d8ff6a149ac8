"""What happens when the user sends, stops, regenerates, rates or corrects: store + engine.

Every store read and write of a turn runs through the app's `StoreActions`, off the GUI
thread (`turns.py`); the controller keeps the order. A user turn is committed before its reply
is asked for; a reply is committed when it is finished (or stopped). Turns typed while a reply
is generating (or while the turn before is being saved) wait in a queue, shown greyed, and are
answered in order. Text is stored exactly as typed (NUL, controls, any script); only unpaired
surrogates, which SQLite cannot hold, become U+FFFD, and the user is told. A turn the store
refuses (locked, disk full) is handed back through `turn_not_saved`, so the window can put it
back in the box.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from chatapp.gui.actions import Change, StoreActions
from chatapp.gui.engine_client import EngineClient
from chatapp.gui.feedback import ReplyFeedback
from chatapp.gui.message_model import MessageListModel
from chatapp.gui.reply_progress import SCORED_STRATEGIES, ReplyProgress
from chatapp.gui.turns import (
    SavedReply,
    SavedTurn,
    TurnContext,
    read_context,
    save_edit,
    save_reply,
    save_turn,
)
from chatapp.store import (  # MAX_MESSAGE_CHARS: the store's one limit
    MAX_MESSAGE_CHARS,
    GenerationInfo,
    Store,
    storable_text,
)
from chatapp.store.errors import StoreError
from chatapp.store.message_text import text_problem
from chatapp.store.records import MessageRecord
from engine.decoding.config import DecodeConfig

if TYPE_CHECKING:
    from engine import Reply

ATTENTION_CACHE_REPLIES = 100  # attention maps kept for Details… (the rest are recomputed)
TURN_CHANGES = Change.CONVERSATIONS | Change.MESSAGES  # its listing comes with it
EMPTY_REFUSAL = "The message is empty: type something to send."


@dataclass
class ActiveRequest:
    kind: str  # "reply" | "regenerate"
    conversation_id: int | None  # None: a new chat, stored when its first turn is saved
    message_id: int | None = None  # the reply being regenerated
    request_id: int | None = None  # the engine's, once the turn is saved and a reply asked for
    dropped: bool = False  # its chat was deleted: no reply is asked for, none is saved
    stopped: bool = False  # Stop (or Esc) was pressed for it


@dataclass
class QueuedTurn:
    conversation_id: int | None  # None: the new chat's (not stored yet)
    text: str
    shown: bool  # a greyed row is in the view for it


class ChatController(ReplyFeedback, QObject):
    busy_changed = Signal(bool)
    error = Signal(str)
    notice = Signal(str)  # something the user should know that is not an error
    turn_not_saved = Signal(str)  # the text of a turn the store refused: give it back
    reply_stored = Signal(object, object)  # MessageRecord, engine.Reply
    conversations_changed = Signal(object)  # turns.Listing: the sidebar, read with the turn

    def __init__(
        self,
        actions: StoreActions,
        engine: EngineClient,
        messages: MessageListModel,
        config: Callable[[], DecodeConfig],
        show_archived: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__()
        self.actions, self.engine, self.messages = actions, engine, messages
        self.store: Store = actions.store  # for reads the user asked for (a click, a dialog)
        self._config, self._show_archived = config, show_archived
        self._queue: deque[QueuedTurn] = deque()
        self._active: ActiveRequest | None = None
        self.model_ready = False
        self.model_version_id: int | None = None
        self.memory_enabled = True  # saved corrections answer matching turns at once
        self.attention_cache: dict[int, tuple[list[str], list[str], list[list[float]]]] = {}
        # The thinking row's words, while a reply is worked out (never once the engine is shut).
        self.progress = ReplyProgress(messages, lambda: self.busy and self.engine.running)
        engine.token_generated.connect(self._on_token)
        engine.reply_finished.connect(self._on_finished)
        engine.generation_failed.connect(self._on_failed)

    # State -------------------------------------------------------------------------------
    @property
    def conversation_id(self) -> int | None:
        return self.messages.conversation_id

    @property
    def busy(self) -> bool:
        return self._active is not None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def set_model_ready(self, ready: bool, version_id: int | None = None) -> None:
        self.model_ready = ready
        self.model_version_id = version_id
        self._pump()

    def open_conversation(self, conversation_id: int | None) -> None:
        self.messages.load_conversation(conversation_id)
        for turn in self._queue:
            turn.shown = turn.conversation_id == conversation_id
            if turn.shown:
                self.messages.append_queued(turn.text)
        active = self._active
        if active and active.conversation_id == conversation_id and active.kind == "reply":
            self.messages.begin_reply()

    def forget_conversation(self, conversation_id: int) -> None:
        """Its chat is being deleted: its queued turns go and its reply is cancelled, before
        the delete, so no late save fails on a chat that is gone (and takes Undo with it)."""
        self._queue = deque(t for t in self._queue if t.conversation_id != conversation_id)
        active = self._active
        if active is not None and active.conversation_id == conversation_id:
            active.dropped = True
            if active.request_id is not None:
                self.engine.cancel(active.request_id)

    def new_conversation(self) -> None:
        """Open an empty chat; it is stored when its first turn is saved, so pressing New
        several times leaves no empty conversations behind."""
        self.open_conversation(None)

    # Sending -----------------------------------------------------------------------------
    def _refusal(self, text: str) -> str | None:
        """What the window says of a turn it does not send: the store's rules, before a turn
        is queued (surrogates are replaced, not refused: `_storable`)."""
        if not text.strip():
            return EMPTY_REFUSAL
        if len(text) > MAX_MESSAGE_CHARS:
            return f"The message {text_problem(text)}. Nothing was sent."
        return None

    def send(self, text: str) -> bool:
        """Send (or queue) a user turn; False (and an error) if it was refused. A turn the
        store cannot save comes back through `turn_not_saved`."""
        refusal = self._refusal(text)
        if refusal is not None:
            self.error.emit(refusal)
            return False
        text = self._storable(text)
        waiting = self.busy or not self.model_ready or bool(self._queue)
        self._queue.append(QueuedTurn(self.conversation_id, text, shown=waiting))
        if waiting:
            self.messages.append_queued(text)
        self._pump()
        return True

    def _storable(self, text: str) -> str:
        text, replaced = storable_text(text)
        if replaced:
            self.notice.emit(
                f"{replaced} character(s) that cannot be stored (unpaired surrogates, as a "
                "broken paste can leave) became “\ufffd”; the rest is kept as typed."
            )
        return text

    def _pump(self) -> None:
        """Save the next waiting turn, once nothing else is being saved or generated."""
        if self._active is None and self.model_ready and self._queue:
            self._save(self._queue.popleft())

    def _save(self, turn: QueuedTurn) -> None:
        """Commit `turn` in the background; its reply is asked for once it is saved."""
        self._active = ActiveRequest("reply", turn.conversation_id)
        self.busy_changed.emit(True)
        memory, archived = self.memory_enabled, self._show_archived()
        self.actions.run(
            lambda store: save_turn(
                store, turn.conversation_id, turn.text, memory=memory, archived=archived
            ),
            success=lambda saved: self._turn_saved(turn, saved),
            failure=lambda message: self._turn_not_saved(turn, message),
            changes=TURN_CHANGES,
        )

    def _turn_saved(self, turn: QueuedTurn, saved: SavedTurn) -> None:
        active, record = self._active, saved.record
        assert active is not None
        active.conversation_id = record.conversation_id
        if active.dropped:  # deleted while it was being saved: the turn is kept, not answered
            self._reply_done(active, None, None)
            self.conversations_changed.emit(saved.listing)
            return
        if saved.created:
            for waiting in self._queue:  # typed into the new chat while it was being stored
                if waiting.conversation_id is None:
                    waiting.conversation_id = record.conversation_id
            if self.conversation_id is None:  # the new chat is still the one shown
                self.open_conversation(record.conversation_id)
        elif record.conversation_id == self.conversation_id:
            if turn.shown:
                self.messages.take_first_queued()
            self.messages.append_record(record)
            self.messages.begin_reply()
        self._ask(active, saved.context)
        self.conversations_changed.emit(saved.listing)

    def _turn_not_saved(self, turn: QueuedTurn, message: str) -> None:
        self._active = None
        if turn.shown and turn.conversation_id == self.conversation_id:
            self.messages.take_first_queued()
        self.error.emit(
            "Your message could not be saved, so it was not sent (it is kept in the "
            f"message box): {message}"
        )
        self.turn_not_saved.emit(turn.text)  # its text left the box when it was sent
        self.busy_changed.emit(False)
        self._pump()

    def _ask(self, active: ActiveRequest, context: TurnContext) -> None:
        """Ask for a reply; the worker first gets the corrections saved up to now (the memory
        works the moment a correction is saved, whatever saved it)."""
        self.engine.set_corrections(context.corrections)
        config = self._config()
        self.progress.start(config)
        active.request_id = self.engine.generate(context.history, config, context.given)

    def stop(self) -> None:
        self.progress.stop()  # also on closing: no tick may reach a view being deleted
        if self._active is not None and self._active.request_id is not None:
            self._active.stopped = True
            self.engine.cancel(self._active.request_id)

    def retry(self) -> bool:
        """Ask again for a reply to the open chat's last turn, after a stop that kept none."""
        if not self._check_idle() or self.conversation_id is None:
            return False
        active = ActiveRequest("reply", self.conversation_id)
        self._active = active
        self.messages.begin_reply()  # in place of the stopped row
        self.busy_changed.emit(True)
        conversation_id, memory = self.conversation_id, self.memory_enabled
        self.actions.run(
            lambda store: read_context(store, conversation_id, memory=memory),
            success=lambda context: self._ask(active, context),
            failure=self._context_failed,
        )
        return True

    def _check_idle(self) -> bool:
        if self.busy or self._queue:
            self.error.emit("Wait for the reply to finish, or press Stop, first.")
            return False
        if not self.model_ready:
            self.error.emit("The model is still loading.")
            return False
        return True

    def _context_failed(self, message: str) -> None:
        """The turn's context could not be read, so no reply was asked for."""
        active, self._active = self._active, None
        if active is not None and active.conversation_id == self.conversation_id:
            self.messages.finish_reply(self._message(active.message_id))
        self.error.emit(message)
        self.busy_changed.emit(False)
        self._pump()

    def regenerate(self, message_id: int | None = None) -> bool:
        """Ask for another reply in place of `message_id` (default: the last bot reply)."""
        if not self._check_idle() or self.conversation_id is None:
            return False
        record = self._message(message_id) if message_id else self._last_bot_message()
        if record is None or record.role != "bot":
            self.error.emit("There is no bot reply to regenerate yet.")
            return False
        active = ActiveRequest("regenerate", record.conversation_id, record.id)
        self._active = active
        self.messages.mark_regenerating(record.position)
        self.busy_changed.emit(True)
        memory = self.memory_enabled
        self.actions.run(
            lambda store: read_context(
                store,
                record.conversation_id,
                upto_position=record.position,
                memory=memory,
                replacing=record.id,
            ),
            success=lambda context: self._ask(active, context),
            failure=self._context_failed,
        )
        return True

    def edit_and_resend(self, message_id: int, new_text: str) -> bool:
        """Send an edited user turn as a new branch (the old turn and what followed it stay,
        one ‹ › away) and ask for a reply to it."""
        if not new_text.strip():
            self.error.emit(EMPTY_REFUSAL)
            return False
        if not self._check_idle():
            return False
        new_text = self._storable(new_text)
        self._active = ActiveRequest("reply", self.conversation_id)
        self.busy_changed.emit(True)
        memory, archived = self.memory_enabled, self._show_archived()
        self.actions.run(
            lambda store: save_edit(store, message_id, new_text, memory=memory, archived=archived),
            success=self._edit_saved,
            failure=self._context_failed,
            changes=TURN_CHANGES,
        )
        return True

    def _edit_saved(self, saved: SavedTurn) -> None:
        active = self._active
        assert active is not None
        active.conversation_id = saved.record.conversation_id
        self.open_conversation(saved.record.conversation_id)  # shows the new branch
        self._ask(active, saved.context)
        self.conversations_changed.emit(saved.listing)

    # Reply events ------------------------------------------------------------------------
    def _is_active(self, request_id: int) -> bool:
        return self._active is not None and self._active.request_id == request_id

    @Slot(int, str)
    def _on_token(self, request_id: int, text: str) -> None:
        if self._is_active(request_id) and self._active.conversation_id == self.conversation_id:
            self.messages.update_reply(text)

    @Slot(int, object)
    def _on_finished(self, request_id: int, reply: Reply | None) -> None:
        if not self._is_active(request_id):
            return
        active = self._active
        if reply is not None and reply.cancelled and reply.config.strategy in SCORED_STRATEGIES:
            reply = None  # stopped before the candidates were scored: none of them is the reply
        if reply is None or not reply.text.strip() or active.dropped:
            if reply is not None and not reply.cancelled and not active.dropped:
                self.notice.emit(  # every candidate was empty (engine: Chatbot._usable)
                    "The model gave no reply (what it wrote was empty), so nothing was stored. "
                    "Send again, or try other decoding settings."
                )
            self._reply_done(active, reply, None)
            return
        info = GenerationInfo.from_reply(reply, self.model_version_id)
        replacing = active.message_id if active.kind == "regenerate" else None
        conversation_id, archived = active.conversation_id, self._show_archived()
        self.actions.run(
            lambda store: save_reply(
                store,
                reply.text,
                info,
                conversation_id=conversation_id,
                replacing=replacing,
                archived=archived,
            ),
            success=lambda saved: self._reply_done(active, reply, saved),
            failure=lambda message: self._reply_not_saved(active, reply, message),
            changes=TURN_CHANGES,
        )

    def _reply_not_saved(self, active: ActiveRequest, reply: Reply, message: str) -> None:
        self.error.emit(f"The reply could not be saved: {message}")
        self._reply_done(active, reply, None)

    def _reply_done(
        self, active: ActiveRequest, reply: Reply | None, saved: SavedReply | None
    ) -> None:
        self._active = None
        record = saved.record if saved is not None else None
        if record is not None and reply is not None:
            self._remember_attention(record.id, reply)
        if active.conversation_id == self.conversation_id:
            if record is None and active.kind == "regenerate":
                record = self._message(active.message_id)  # nothing new: show the old one again
            if record is None and active.stopped and active.kind == "reply":
                self.messages.show_stopped()  # the turn stays visibly unanswered, with Retry
            else:
                self.messages.finish_reply(record)
        if record is not None and reply is not None:
            self.reply_stored.emit(record, reply)
        self.busy_changed.emit(False)
        if saved is not None:
            self.conversations_changed.emit(saved.listing)
        self._pump()

    def _remember_attention(self, message_id: int, reply: Reply) -> None:
        self.attention_cache[message_id] = (
            reply.context_pieces,
            reply.reply_pieces,
            reply.attention,
        )
        if len(self.attention_cache) > ATTENTION_CACHE_REPLIES:
            # Oldest first out: a long session kept every reply's map (tens of kB each);
            # Details… recomputes a map that is no longer here.
            del self.attention_cache[next(iter(self.attention_cache))]

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if not self._is_active(request_id):
            return
        active, self._active = self._active, None
        if active.conversation_id == self.conversation_id:
            self.messages.finish_reply(self._message(active.message_id))
        if not active.dropped:  # a deleted chat's failure would take the banner's Undo
            self.error.emit(message)
        self.busy_changed.emit(False)
        self._pump()

    # Messages the user pointed at ---------------------------------------------------------
    def _message(self, message_id: int | None) -> MessageRecord | None:
        if message_id is None:
            return None
        try:
            return self.store.get_message(message_id)
        except StoreError:
            return None

    def _last_bot_message(self) -> MessageRecord | None:
        if self.conversation_id is None:
            return None
        for record in reversed(self.store.last_messages(self.conversation_id, 2)):
            if record.role == "bot":
                return record
        return None
