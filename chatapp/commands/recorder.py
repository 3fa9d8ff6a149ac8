"""Keeps a terminal chat (`main.py chat --db FILE`) in the conversation store."""

from __future__ import annotations

import argparse

from chatapp.commands.common import CommandError, data_dir_of, db_of
from chatapp.paths import resolve_db_path
from chatapp.store import GenerationInfo, Store, StoreError
from chatapp.store.versions import ensure_model_version
from engine import Chatbot, Reply


class StoreRecorder:
    """One conversation per run (or `--conversation ID` to continue one), made when the first
    turn is saved: a run that sends nothing (`< /dev/null`, Ctrl-D at once) leaves no empty
    chat behind."""

    def __init__(
        self, store: Store, conversation_id: int | None, model_version_id: int | None
    ) -> None:
        self.store = store
        self.conversation_id = conversation_id  # None until the first turn is saved
        self.model_version_id = model_version_id

    @classmethod
    def open(cls, args: argparse.Namespace, bot: Chatbot) -> StoreRecorder:
        try:
            store = Store.open(resolve_db_path(db_of(args), data_dir_of(args)))
            conversation_id = None
            if args.conversation is not None:
                conversation_id = store.get_conversation(args.conversation).id
            version = ensure_model_version(store, bot.model_dir)
        except StoreError as error:
            raise CommandError(str(error)) from None
        return cls(store, conversation_id, version.id)

    def history(self) -> list[str]:
        if self.conversation_id is None:
            return []
        return self.store.history(self.conversation_id)

    def add_user_turn(self, text: str) -> None:
        if self.conversation_id is None:
            self.conversation_id = self.store.create_conversation().id
        self.store.add_user_turn(self.conversation_id, text)

    def add_bot_reply(self, reply: Reply) -> None:
        if self.conversation_id is None:
            raise StoreError("a reply cannot be saved before the turn it answers")
        info = GenerationInfo.from_reply(reply, self.model_version_id)
        self.store.add_bot_reply(self.conversation_id, reply.text, info)
