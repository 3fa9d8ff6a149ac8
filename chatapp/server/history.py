"""Keeps API conversations in the chat database (`serve --db`), where the app lists them.

An API client sends the whole conversation with every request. A request that continues a
conversation this server answered (its turns are that conversation's turns and the reply) is
added to it; anything else starts a new one, titled "API · <first user turn>", so the sidebar
shows where it came from. A user turn is committed before its reply is generated, as in the app.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from chatapp.store import GenerationInfo, Store
from chatapp.store.conversations import TITLE_CHARS, shorten
from chatapp.store.versions import ensure_model_version
from engine.default_model import default_model_dir

if TYPE_CHECKING:
    from engine import Reply

TITLE_PREFIX = "API · "
REMEMBERED = 1000  # conversations whose continuation is recognised (the oldest are forgotten)


class ApiHistory:
    """Used from the model worker's thread only (one request at a time)."""

    def __init__(self, store: Store, model_version_id: int | None) -> None:
        self.store = store
        self.model_version_id = model_version_id
        self._conversations: OrderedDict[tuple[str, ...], int] = OrderedDict()

    @classmethod
    def open(cls, db_path: str | Path, model_dir: str | Path | None) -> ApiHistory:
        """Raises `StoreError` for a database that cannot be used (before the server binds)."""
        store = Store.open(db_path)
        version = ensure_model_version(store, model_dir or default_model_dir())
        return cls(store, version.id)

    def close(self) -> None:
        self.store.close()

    def add_turns(self, history: tuple[str, ...]) -> int:
        """Store the request's turns (only the new user turn if it continues a conversation);
        returns the conversation's id."""
        earlier = history[:-1]
        conversation_id = self._conversations.pop(earlier, None)
        if conversation_id is not None and tuple(self.store.history(conversation_id)) != earlier:
            conversation_id = None  # changed in the app since (a turn edited or deleted)
        if conversation_id is None:
            conversation_id = self._new_conversation(history)
            for position, turn in enumerate(earlier):
                if (len(history) - 1 - position) % 2 == 0:
                    self.store.add_user_turn(conversation_id, turn)
                else:
                    self.store.add_bot_reply(conversation_id, turn)  # the client's, not ours
        self.store.add_user_turn(conversation_id, history[-1])
        return conversation_id

    def add_reply(
        self, conversation_id: int, history: tuple[str, ...], text: str, reply: Reply
    ) -> None:
        if not text.strip():  # the model wrote nothing: no turn to keep (the store refuses it)
            return
        info = GenerationInfo.from_reply(reply, self.model_version_id)
        self.store.add_bot_reply(conversation_id, text, info)
        self._conversations[(*history, text)] = conversation_id
        while len(self._conversations) > REMEMBERED:
            self._conversations.popitem(last=False)

    def _new_conversation(self, history: tuple[str, ...]) -> int:
        users = [turn for i, turn in enumerate(history) if (len(history) - 1 - i) % 2 == 0]
        title = TITLE_PREFIX + shorten(users[0], TITLE_CHARS - len(TITLE_PREFIX))
        return self.store.create_conversation(title).id
