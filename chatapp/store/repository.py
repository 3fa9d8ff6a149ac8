"""`Store`: the one door to the conversation database.

Every method is one unit of work in its own session and returns plain frozen records, so a
`Store` can be shared by the GUI thread and the engine worker. Its methods come from three
mixins, one file each: conversations, messages, and the registry (model versions, fine-tune
runs, presets); search, training pairs and archives are here.

    store = Store.open(path)
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "hello")   # committed before the reply is generated
    store.add_bot_reply(conversation.id, "hi!", GenerationInfo.from_reply(reply, version_id))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path
from types import TracebackType
from typing import Any

from chatapp.store.archive import batches, build_archive, new_conversations, restore_conversations
from chatapp.store.conversations import ConversationsMixin, get_conversation
from chatapp.store.database import DEFAULT_BUSY_TIMEOUT, Database
from chatapp.store.errors import StoreError
from chatapp.store.messages import MessagesMixin
from chatapp.store.records import ImportSummary, SearchHit, TrainingPair
from chatapp.store.registry import RegistryMixin
from chatapp.store.search import search_messages
from chatapp.store.training_pairs import collect_pairs, count_pairs

IMPORT_BATCH_MESSAGES = 5000  # messages written per transaction by an import


class Store(ConversationsMixin, MessagesMixin, RegistryMixin):
    """Conversations, messages, model versions, fine-tune runs and presets in one SQLite file."""

    def __init__(self, database: Database):
        self._db = database

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        max_page_count: int | None = None,
    ) -> Store:
        """Open (or create) the database at `path`, upgrading an older one after a backup.

        Raises `NewerDatabaseError` for a database made by a newer app and
        `CorruptDatabaseError` for a damaged file, both left untouched. A file that cannot be
        written opens read-only (see `read_only`). `busy_timeout` is how many seconds a write
        waits for another program; `max_page_count` caps the file's size in pages.
        """
        return cls(
            Database.open(
                path, read_only=read_only, busy_timeout=busy_timeout, max_page_count=max_page_count
            )
        )

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def read_only(self) -> bool:
        """True when writes will raise `ReadOnlyDatabaseError` (say so in the window)."""
        return self._db.read_only

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def search(
        self,
        query: str,
        limit: int = 50,
        *,
        open_marker: str = "[",
        close_marker: str = "]",
        ellipsis: str = "…",
        include_archived: bool = True,
    ) -> list[SearchHit]:
        """Messages on visible paths that contain every word of `query`, best first.

        Any text is a safe query: words are matched as words (the last also as a prefix), never
        as FTS5 syntax. Matches in the snippet are wrapped in `open_marker` / `close_marker`.
        """
        with self._db.read() as session:
            return search_messages(
                session,
                query,
                limit=limit,
                open_marker=open_marker,
                close_marker=close_marker,
                ellipsis=ellipsis,
                include_archived=include_archived,
            )

    def training_pairs(
        self,
        include: Collection[str] = ("corrected", "liked"),
        *,
        conversation_id: int | None = None,
        max_context_turns: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[TrainingPair]:
        """Fine-tuning pairs of the kinds in `include` ("corrected", "liked", "user").

        `max_context_turns` keeps only the last turns of each context (each pair's
        `context_key` still names the whole of it); with it, the time and memory this takes
        grow with the number of messages, not with its square. `should_stop` is asked between
        conversations: when it turns true, `Stopped` is raised.
        """
        with self._db.read() as session:
            if conversation_id is not None:
                get_conversation(session, conversation_id)
            return collect_pairs(
                session,
                include,
                conversation_id=conversation_id,
                max_context_turns=max_context_turns,
                should_stop=should_stop,
            )

    def training_pair_counts(self) -> dict[str, int]:
        """How many pairs of each kind there are: {"corrected": n, "liked": n, "user": n}."""
        with self._db.read() as session:
            return count_pairs(session)

    def export_archive(self, conversation_id: int | None = None) -> dict[str, Any]:
        """Everything (or one conversation) as a JSON-ready archive; see `archive.py`."""
        with self._db.read() as session:
            if conversation_id is not None:
                get_conversation(session, conversation_id)
            return build_archive(session, conversation_id)

    def import_archive(
        self, data: Any, *, on_progress: Callable[[int, int], None] | None = None
    ) -> ImportSummary:
        """Add an archive's conversations not already here (by uid).

        Raises `ArchiveError` for a malformed archive, before anything is written. The rest is
        written a few thousand messages per transaction, each conversation whole, so other
        writers (the chat) wait at most one batch; `on_progress(done, total)` after each. If a
        batch fails (a full disk), the conversations before it stay and the error says so:
        importing the archive again adds the rest.
        """
        with self._db.read() as session:
            new, skipped = new_conversations(session, data)
        done = added = 0
        for batch in batches(new, max_messages=IMPORT_BATCH_MESSAGES):
            try:
                with self._db.write() as session:
                    added += restore_conversations(session, batch)
            except StoreError as error:
                if done:
                    raise type(error)(
                        f"{error} ({done} of {len(new)} new conversations were imported before "
                        "this; importing the archive again adds the rest)"
                    ) from error
                raise
            done += len(batch)
            if on_progress is not None:
                on_progress(done, len(new))
        return ImportSummary(
            conversations_added=done, messages_added=added, conversations_skipped=skipped
        )
