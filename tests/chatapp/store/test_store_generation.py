"""A reply's provenance, from the engine's `Reply` to the stored row and back."""

from __future__ import annotations

import dataclasses

from chatapp.store import GenerationInfo, Store
from engine.chatbot import Alternative, Reply
from engine.decoding.config import DecodeConfig
from engine.memory import Correction, MemoryMatch


def reranked_reply(**extra: object) -> Reply:
    return Reply(
        text="i like jazz.",
        tokens=[5, 6, 7],
        alternatives=[
            Alternative("i like jazz.", -0.5, True, forward_score=-1.0, mmi_score=-2.0),
            Alternative("i do.", -0.9, True, forward_score=-0.7, mmi_score=-4.0),
        ],
        config=DecodeConfig(strategy="rerank", seed=3),
        seed=3,
        cancelled=False,
        first_token_ms=None,
        total_ms=120.0,
        scorer="backward model",
        **extra,
    )


def test_a_reranked_reply_keeps_every_candidate_with_both_scores_and_the_scorer(store: Store):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "do you like music?")
    info = GenerationInfo.from_reply(reranked_reply(), model_version_id=None)
    record = store.add_bot_reply(conversation.id, "i like jazz.", info)
    assert record.nbest == [
        {"text": "i like jazz.", "score": -0.5, "forward": -1.0, "mmi": -2.0,
         "scorer": "backward model"},
        {"text": "i do.", "score": -0.9, "forward": -0.7, "mmi": -4.0,
         "scorer": "backward model"},
    ]  # fmt: skip
    assert record.seed == 3 and record.decoding["strategy"] == "rerank"
    assert record.timings == {"ttft_ms": None, "total_ms": 120.0, "tokens": 3,
                              "tokens_per_s": 25.0}  # fmt: skip
    assert "memory" not in record.decoding
    # Picking a candidate keeps the reply's provenance (`GenerationInfo.like`).
    picked = store.add_alternative(record.id, "i do.", GenerationInfo.like(record))
    assert picked.nbest == record.nbest and picked.decoding == record.decoding
    assert picked.seed is None and picked.timings is None


def test_a_candidate_cut_at_the_length_limit_is_marked_and_reads_back(store: Store):
    cut = Alternative("i like jazz and rock and", -0.2, False, forward_score=-0.9, mmi_score=-1.0)
    reply = reranked_reply()
    reply = dataclasses.replace(reply, alternatives=[*reply.alternatives, cut])
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "do you like music?")
    record = store.add_bot_reply(
        conversation.id, reply.text, GenerationInfo.from_reply(reply, model_version_id=None)
    )
    assert [entry.get("cut", False) for entry in record.nbest] == [False, False, True]
    picked = store.add_alternative(record.id, "i do.", GenerationInfo.like(record))
    assert picked.nbest == record.nbest


def test_a_reply_from_a_saved_correction_records_which_one(store: Store):
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "what is your name?")
    match = MemoryMatch(
        Correction("what is your name?", "ada.", source_id=7), True, 1.0, None, None, True
    )
    info = GenerationInfo.from_reply(reranked_reply(memory=match), model_version_id=None)
    record = store.add_bot_reply(conversation.id, "ada.", info)
    assert record.decoding["memory"]["source_id"] == 7
    assert record.decoding["strategy"] == "rerank"
