"""What one chat turn reads and writes, as functions of the store.

The controller hands these to `StoreActions`, so they run off the GUI thread: committing a
user turn, reading the path the reply continues and the saved corrections, committing the
reply, and reading the sidebar's new listing, all in the background. Each returns a frozen
result for the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatapp.store import ConversationRecord, GenerationInfo, MessageRecord, Store, StoreError
from chatapp.store.records import CorrectionRecord


@dataclass(frozen=True)
class Listing:
    """What the sidebar shows about the store (the fine-tune counts: `teach_counts.py`)."""

    conversations: list[ConversationRecord]


def read_listing(store: Store, *, archived: bool) -> Listing:
    return Listing(store.list_conversations(include_archived=archived))


@dataclass(frozen=True)
class TurnContext:
    """What a reply is generated from."""

    history: list[str]  # the visible path up to the turn being answered
    corrections: list[CorrectionRecord]  # the memory as saved up to now (empty when it is off)
    given: tuple[str, ...] = ()  # Regenerate: the replies the turn already has (ask for another)


@dataclass(frozen=True)
class SavedTurn:
    record: MessageRecord  # the user turn as committed
    context: TurnContext
    created: bool  # its conversation was made for it (a new chat's first turn)
    listing: Listing  # the sidebar after it


def read_corrections(store: Store, enabled: bool) -> list[CorrectionRecord]:
    """The saved corrections and liked replies the reply consults; a failure to read them
    costs only the memory (the reply matters more)."""
    if not enabled:
        return []
    try:
        return store.corrections(liked=True)
    except StoreError:
        return []


def read_context(
    store: Store,
    conversation_id: int,
    *,
    upto_position: int | None = None,
    memory: bool,
    replacing: int | None = None,
) -> TurnContext:
    """The history and memory a reply is made from; `replacing` (a reply being regenerated)
    adds the replies its turn already has, so the engine gives another."""
    history = store.history(conversation_id, upto_position=upto_position)
    given = tuple(m.text for m in store.alternatives(replacing)) if replacing is not None else ()
    return TurnContext(history, read_corrections(store, memory), given)


def save_turn(
    store: Store, conversation_id: int | None, text: str, *, memory: bool, archived: bool
) -> SavedTurn:
    """Commit a user turn (making its conversation first when it is a new chat's)."""
    created = conversation_id is None
    if conversation_id is None:
        conversation_id = store.create_conversation().id
    record = store.add_user_turn(conversation_id, text)
    context = read_context(store, conversation_id, memory=memory)
    return SavedTurn(record, context, created, read_listing(store, archived=archived))


def save_edit(
    store: Store, message_id: int, text: str, *, memory: bool, archived: bool
) -> SavedTurn:
    """Commit an edited user turn as a new branch."""
    record = store.edit_user_turn(message_id, text)
    context = read_context(store, record.conversation_id, memory=memory)
    return SavedTurn(record, context, False, read_listing(store, archived=archived))


@dataclass(frozen=True)
class SavedReply:
    record: MessageRecord
    listing: Listing


def save_reply(
    store: Store,
    text: str,
    info: GenerationInfo,
    *,
    conversation_id: int,
    replacing: int | None,
    archived: bool,
) -> SavedReply:
    """Commit a finished reply: a new one, or an alternative to the reply `replacing`."""
    if replacing is not None:
        record = store.add_alternative(replacing, text, info)
    else:
        record = store.add_bot_reply(conversation_id, text, info)
    return SavedReply(record, read_listing(store, archived=archived))
