"""Keeps a terminal chat (`main.py chat --db FILE`) in the conversation store."""

from __future__ import annotations

import argparse

from chatapp.commands.common import CommandError, data_dir_of, db_of
from chatapp.finetune.versions import ensure_model_version
from chatapp.paths import resolve_db_path
from chatapp.store import GenerationInfo, Store, StoreError
from engine import Chatbot, Reply


class StoreRecorder:
    """One conversation per run (or `--conversation ID` to continue one)."""

    def __init__(self, store: Store, conversation_id: int, model_version_id: int | None) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.model_version_id = model_version_id

    @classmethod
    def open(cls, args: argparse.Namespace, bot: Chatbot) -> StoreRecorder:
        try:
            store = Store.open(resolve_db_path(db_of(args), data_dir_of(args)))
            if args.conversation is not None:
                conversation_id = store.get_conversation(args.conversation).id
            else:
                conversation_id = store.create_conversation().id
            version = ensure_model_version(store, bot.model_dir)
        except StoreError as error:
            raise CommandError(str(error)) from None
        return cls(store, conversation_id, version.id)

    def history(self) -> list[str]:
        return self.store.history(self.conversation_id)

    def add_user_turn(self, text: str) -> None:
        self.store.add_user_turn(self.conversation_id, text)

    def add_bot_reply(self, reply: Reply) -> None:
        info = GenerationInfo.from_reply(reply, self.model_version_id)
        self.store.add_bot_reply(self.conversation_id, reply.text, info)
