"""A reply's provenance (who wrote it, and where from) through the store, archives and picks."""

from __future__ import annotations

import json
from pathlib import Path

from chatapp.store import Candidate, GenerationInfo, MessageRecord, Store
from chatapp.store.generation import GenerationInfo as Info
from engine import DecodeConfig
from engine.reply import Alternative, Reply
from engine.sources import ReplySource

ORIGIN = "chitchat conversation 5b1f"
POOL = DecodeConfig(strategy="pool", seed=4, similar=4)


def pooled_reply() -> Reply:
    """A reply as the engine hands it back when a person's reply won the pool."""
    return Reply(
        text="I have two younger brothers",
        tokens=[5, 6, 7],
        alternatives=[
            Alternative("I have two younger brothers", -1.5, True, -2.0, -0.2,
                        ReplySource.CORPUS, ORIGIN),
            Alternative("my name is ada.", -1.9, True, -1.8, -0.4, ReplySource.CORRECTION,
                        "your correction of 2026-12-01 10:00"),
            Alternative("i have a dog", -2.5, True, -1.1, -0.9),
        ],
        config=POOL,
        seed=4,
        cancelled=False,
        first_token_ms=30.0,
        total_ms=30.0,
        source=ReplySource.CORPUS,
        origin=ORIGIN,
    )  # fmt: skip


def store_pooled_reply(store: Store) -> MessageRecord:
    """A new chat: a question, and `pooled_reply()` stored as its answer."""
    chat = store.create_conversation()
    store.add_user_turn(chat.id, "do you have any siblings?")
    info = Info.from_reply(pooled_reply(), None)
    return store.add_bot_reply(chat.id, "I have two younger brothers", info)


def test_the_engines_provenance_reaches_the_row(tmp_path: Path) -> None:
    with Store.open(tmp_path / "chat.db") as store:
        row = store_pooled_reply(store)
        stored = store.get_message(row.id)
    assert stored.decoding["provenance"] == {"source": "corpus", "origin": ORIGIN}
    assert stored.decoding["strategy"] == "pool"
    assert stored.decoding == {**POOL.to_dict(), "provenance": stored.decoding["provenance"]}
    assert [(e["text"], e.get("source", "model"), e.get("origin", "")) for e in stored.nbest] == [
        ("I have two younger brothers", "corpus", ORIGIN),
        ("my name is ada.", "correction", "your correction of 2026-12-01 10:00"),
        ("i have a dog", "model", ""),
    ]
    assert [e["forward"] for e in stored.nbest] == [-2.0, -1.8, -1.1]


def test_export_then_import_keeps_each_source(tmp_path: Path) -> None:
    with Store.open(tmp_path / "chat.db") as store:
        store_pooled_reply(store)
        archive = store.export_archive()
    text = json.dumps(archive)
    with Store.open(tmp_path / "other.db") as other:
        other.import_archive(json.loads(text))
        [chat] = other.list_conversations()
        reply = other.page_messages(chat.id, 0, 10)[-1]
    assert reply.decoding["provenance"] == {"source": "corpus", "origin": ORIGIN}
    assert reply.decoding["similar"] == 4  # every knob travels, the newest too
    assert [e.get("source", "model") for e in reply.nbest] == ["corpus", "correction", "model"]
    assert reply.nbest[0]["origin"] == ORIGIN


def test_a_text_picked_from_the_list_carries_its_own_source(tmp_path: Path) -> None:
    with Store.open(tmp_path / "chat.db") as store:
        row = store_pooled_reply(store)
        picked = store.add_alternative(
            row.id, "i have a dog", GenerationInfo.like(store.get_message(row.id), "i have a dog")
        )
        taught = store.add_alternative(
            row.id, "my name is ada.",
            GenerationInfo.like(store.get_message(row.id), "my name is ada."),
        )  # fmt: skip
        picked, taught = store.get_message(picked.id), store.get_message(taught.id)
    assert "provenance" not in picked.decoding  # the model wrote it
    assert taught.decoding["provenance"]["source"] == "correction"


def test_a_model_reply_stores_no_provenance_and_reads_back_as_the_models(tmp_path: Path) -> None:
    info = GenerationInfo(decoding={"strategy": "beam"}, nbest=(Candidate("hi", -0.5),))
    with Store.open(tmp_path / "chat.db") as store:
        chat = store.create_conversation()
        store.add_user_turn(chat.id, "hello")
        row = store.get_message(store.add_bot_reply(chat.id, "hi", info).id)
    assert row.decoding == {"strategy": "beam"}
    assert row.nbest == [{"text": "hi", "score": -0.5}]
