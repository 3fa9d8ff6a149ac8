"""Feedback on a message: rating, correcting, choosing another alternative or branch, and
making an n-best text the reply. Each is a store action (off the GUI thread); the view shows the
record the store returns. A mixin of `ChatController`, whose messages and conversation it uses.
"""

from __future__ import annotations

from collections.abc import Callable

from chatapp.gui.actions import Change, StoreActions
from chatapp.gui.message_model import MessageListModel
from chatapp.store import GenerationInfo, Store
from chatapp.store.records import MessageRecord


class ReplyFeedback:
    """Uses the controller's `actions`, `messages`, `conversation_id`, `error` signal,
    `_storable` and `open_conversation`."""

    actions: StoreActions
    messages: MessageListModel

    def _apply(
        self,
        op: Callable[[Store], MessageRecord | None],
        then: Callable[[MessageRecord], None] | None = None,
    ) -> None:
        """Change a message in the background; the view shows the record the store returns."""

        def show(record: MessageRecord | None) -> None:
            if record is None:
                return
            if record.conversation_id == self.conversation_id:
                self.messages.replace_record(record)
            if then is not None:
                then(record)

        self.actions.run(op, success=show, failure=self.error.emit, changes=Change.MESSAGES)

    def rate(self, message_id: int, rating: int) -> None:
        def toggle(store: Store) -> MessageRecord:
            current = store.get_message(message_id)
            # Pressing the same thumb again takes the rating back.
            return store.rate(message_id, 0 if current.rating == rating else rating)

        self._apply(toggle)

    def correct(self, message_id: int, text: str | None) -> None:
        cleaned = self._storable(text) if text and text.strip() else None
        self._apply(lambda store: store.correct(message_id, cleaned))

    def step_alternative(self, message_id: int, delta: int) -> None:
        def step(store: Store) -> MessageRecord | None:
            alternatives = store.alternatives(message_id)
            current = next((i for i, a in enumerate(alternatives) if a.chosen), 0)
            target = current + delta
            if not alternatives or not 0 <= target < len(alternatives):
                return None
            return store.choose_alternative(alternatives[target].id)

        def reopen(record: MessageRecord) -> None:
            if record.role == "user" and record.conversation_id == self.conversation_id:
                # Another edit of a user turn: the turns after it are that branch's own.
                self.open_conversation(self.conversation_id)

        self._apply(step, reopen)

    def use_text_as_alternative(self, message_id: int, text: str) -> None:
        """Make one of the beam's n-best texts the reply (kept as an alternative)."""

        def add(store: Store) -> MessageRecord:
            info = GenerationInfo.like(store.get_message(message_id), text)
            return store.add_alternative(message_id, text, info)

        self._apply(add)
