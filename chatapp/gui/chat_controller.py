"""What happens when the user sends, stops, regenerates, rates or corrects: store + engine.

The controller is the one place where the GUI writes to the store. A user turn is committed
before its reply is asked for; a reply is committed when it is finished (or stopped). Turns
typed while a reply is generating wait in a queue, shown greyed, and are answered in order.
Text is stored exactly as typed (NUL, controls, any script); only unpaired surrogates, which
SQLite cannot hold, become U+FFFD, and the user is told. A turn the store refuses (locked,
disk full) is handed back through `turn_not_saved`, so the window can put it back in the box.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from chatapp.correction_memory import to_corrections
from chatapp.gui.engine_client import EngineClient
from chatapp.gui.message_model import MessageListModel
from chatapp.store import (  # MAX_MESSAGE_CHARS: the store's one limit
    MAX_MESSAGE_CHARS,
    GenerationInfo,
    Store,
    storable_text,
)
from chatapp.store.errors import StoreError
from chatapp.store.records import MessageRecord
from engine.decoding.config import DecodeConfig

if TYPE_CHECKING:
    from engine import Reply

ATTENTION_CACHE_REPLIES = 100  # attention maps kept for Details… (the rest are recomputed)


@dataclass
class ActiveRequest:
    request_id: int
    kind: str  # "reply" | "regenerate"
    conversation_id: int
    message_id: int | None = None  # the reply being regenerated


@dataclass
class QueuedTurn:
    conversation_id: int
    text: str
    shown: bool  # a greyed row is in the view for it


class ChatController(QObject):
    busy_changed = Signal(bool)
    error = Signal(str)
    notice = Signal(str)  # something the user should know that is not an error
    turn_not_saved = Signal(str)  # the text of a turn the store refused: give it back
    reply_stored = Signal(object, object)  # MessageRecord, engine.Reply
    conversations_changed = Signal()

    def __init__(
        self,
        store: Store,
        engine: EngineClient,
        messages: MessageListModel,
        config: Callable[[], DecodeConfig],
    ) -> None:
        super().__init__()
        self.store, self.engine, self.messages = store, engine, messages
        self._config = config
        self._queue: deque[QueuedTurn] = deque()
        self._active: ActiveRequest | None = None
        self.model_ready = False
        self.model_version_id: int | None = None
        self.memory_enabled = True  # saved corrections answer matching turns at once
        self.attention_cache: dict[int, tuple[list[str], list[str], list[list[float]]]] = {}
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

    def new_conversation(self) -> None:
        """Open an empty chat; it is stored when its first turn is sent (`_create`), so
        pressing New several times leaves no empty conversations behind."""
        self.open_conversation(None)

    def _create(self) -> int:
        record = self.store.create_conversation()
        self.open_conversation(record.id)
        self.conversations_changed.emit()
        return record.id

    # Sending -----------------------------------------------------------------------------
    def send(self, text: str) -> bool:
        """Send (or queue) a user turn; False (and an error) if it was refused or not saved."""
        if not text.strip():
            self.error.emit("The message is empty: type something to send.")
            return False
        if len(text) > MAX_MESSAGE_CHARS:
            self.error.emit(
                f"The message is too long ({len(text):,} characters; the limit is "
                f"{MAX_MESSAGE_CHARS:,}). Nothing was sent."
            )
            return False
        text = self._storable(text)
        try:
            conversation_id = self.conversation_id or self._create()
        except StoreError as error:
            self.error.emit(str(error))
            return False
        waiting = self.busy or not self.model_ready or bool(self._queue)
        turn = QueuedTurn(conversation_id, text, shown=waiting)
        if not waiting:
            return self._start(turn)  # refused now: the caller still has the text to keep
        self._queue.append(turn)
        self.messages.append_queued(text)
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
        """Start the reply to the next waiting turn, once nothing else is being generated."""
        while self._active is None and self.model_ready and self._queue:
            turn = self._queue.popleft()
            if not self._start(turn):
                self.turn_not_saved.emit(turn.text)  # its text left the box when it queued

    def _start(self, turn: QueuedTurn) -> bool:
        """Commit `turn` and ask for its reply; False (and an error) if it cannot be saved."""
        try:
            record = self.store.add_user_turn(turn.conversation_id, turn.text)
            history = self.store.history(turn.conversation_id)
        except (StoreError, ValueError) as error:
            if turn.shown and turn.conversation_id == self.conversation_id:
                self.messages.take_first_queued()
            self.error.emit(
                "Your message could not be saved, so it was not sent (it is kept in the "
                f"message box): {error}"
            )
            return False
        if turn.conversation_id == self.conversation_id:
            if turn.shown:
                self.messages.take_first_queued()
            self.messages.append_record(record)
            self.messages.begin_reply()
        request_id = self._generate(history)
        self._active = ActiveRequest(request_id, "reply", turn.conversation_id)
        self.busy_changed.emit(True)
        self.conversations_changed.emit()
        return True

    def _generate(self, history: list[str]) -> int:
        """Ask for a reply; the worker first gets the corrections saved up to now (the memory
        works the moment a correction is saved, whatever saved it)."""
        records = []
        if self.memory_enabled:
            try:
                records = self.store.corrections()
            except StoreError:
                records = []  # the reply matters more than the memory
        self.engine.set_corrections(to_corrections(records))
        return self.engine.generate(history, self._config())

    def stop(self) -> None:
        if self._active is not None:
            self.engine.cancel(self._active.request_id)

    def _check_idle(self) -> bool:
        if self.busy or self._queue:
            self.error.emit("Wait for the reply to finish, or press Stop, first.")
            return False
        if not self.model_ready:
            self.error.emit("The model is still loading.")
            return False
        return True

    def regenerate(self, message_id: int | None = None) -> bool:
        """Ask for another reply in place of `message_id` (default: the last bot reply)."""
        if not self._check_idle() or self.conversation_id is None:
            return False
        record = self._message(message_id) if message_id else self._last_bot_message()
        if record is None or record.role != "bot":
            self.error.emit("There is no bot reply to regenerate yet.")
            return False
        history = self.store.history(record.conversation_id, upto_position=record.position)
        request_id = self._generate(history)
        self._active = ActiveRequest(request_id, "regenerate", record.conversation_id, record.id)
        self.messages.mark_regenerating(record.position)
        self.busy_changed.emit(True)
        return True

    def edit_and_resend(self, message_id: int, new_text: str) -> bool:
        """Send an edited user turn as a new branch (the old turn and what followed it stay,
        one ‹ › away) and ask for a reply to it."""
        if not new_text.strip():
            self.error.emit("The message is empty: type something to send.")
            return False
        if not self._check_idle():
            return False
        new_text = self._storable(new_text)
        try:
            record = self.store.edit_user_turn(message_id, new_text)
            history = self.store.history(record.conversation_id)
        except (StoreError, ValueError) as error:
            self.error.emit(str(error))
            return False
        self.open_conversation(record.conversation_id)
        self.messages.begin_reply()
        request_id = self._generate(history)
        self._active = ActiveRequest(request_id, "reply", record.conversation_id)
        self.busy_changed.emit(True)
        self.conversations_changed.emit()
        return True

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
        active, self._active = self._active, None
        shown = active.conversation_id == self.conversation_id
        record: MessageRecord | None = None
        if reply is not None and reply.text.strip():
            try:
                info = GenerationInfo.from_reply(reply, self.model_version_id)
                if active.kind == "regenerate" and active.message_id is not None:
                    record = self.store.add_alternative(active.message_id, reply.text, info)
                else:
                    record = self.store.add_bot_reply(active.conversation_id, reply.text, info)
            except StoreError as error:
                self.error.emit(f"The reply could not be saved: {error}")
        if record is not None:
            self.attention_cache[record.id] = (
                reply.context_pieces,
                reply.reply_pieces,
                reply.attention,
            )
            if len(self.attention_cache) > ATTENTION_CACHE_REPLIES:
                # Oldest first out: a long session kept every reply's map (tens of kB each);
                # Details… recomputes a map that is no longer here.
                del self.attention_cache[next(iter(self.attention_cache))]
        if shown:
            if record is None and active.kind == "regenerate" and active.message_id is not None:
                record = self._message(active.message_id)  # nothing new: show the old one again
            self.messages.finish_reply(record)
        if record is not None and reply is not None:
            self.reply_stored.emit(record, reply)
        self.busy_changed.emit(False)
        self.conversations_changed.emit()
        self._pump()

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if not self._is_active(request_id):
            return
        active, self._active = self._active, None
        if active.conversation_id == self.conversation_id:
            old = self._message(active.message_id) if active.message_id else None
            self.messages.finish_reply(old)
        self.error.emit(message)
        self.busy_changed.emit(False)
        self._pump()

    # Feedback on replies -------------------------------------------------------------------
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

    def _apply(self, action: Callable[[], MessageRecord]) -> MessageRecord | None:
        try:
            record = action()
        except (StoreError, ValueError) as error:
            self.error.emit(str(error))
            return None
        if record.conversation_id == self.conversation_id:
            self.messages.replace_record(record)
        return record

    def rate(self, message_id: int, rating: int) -> MessageRecord | None:
        current = self._message(message_id)
        if current is not None and current.rating == rating:
            rating = 0  # pressing the same thumb again takes the rating back
        return self._apply(lambda: self.store.rate(message_id, rating))

    def correct(self, message_id: int, text: str | None) -> MessageRecord | None:
        cleaned = self._storable(text) if text and text.strip() else None
        return self._apply(lambda: self.store.correct(message_id, cleaned))

    def step_alternative(self, message_id: int, delta: int) -> MessageRecord | None:
        alternatives = self.store.alternatives(message_id)
        current = next((i for i, a in enumerate(alternatives) if a.chosen), 0)
        target = current + delta
        if not alternatives or not 0 <= target < len(alternatives):
            return None
        record = self._apply(lambda: self.store.choose_alternative(alternatives[target].id))
        if record is not None and record.role == "user" and self.conversation_id is not None:
            # Another edit of a user turn: the turns after it are that branch's own.
            self.open_conversation(self.conversation_id)
        return record

    def use_text_as_alternative(self, message_id: int, text: str) -> MessageRecord | None:
        """Make one of the beam's n-best texts the reply (kept as an alternative)."""
        base = self._message(message_id)
        info = GenerationInfo.like(base) if base is not None else None
        return self._apply(lambda: self.store.add_alternative(message_id, text, info))
