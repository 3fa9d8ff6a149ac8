"""Replies people wrote to turns near yours in meaning: the reply index's answered turns
encoded once by the turn encoder (engine/turn_encoder.py), searched with one matrix product.

The index's word search finds turns that share your rarer words, and its idf cosine says how
near they are in words. A turn whose words the corpus never answered ("I burned the toast this
morning") then gets replies to "this morning". With the turn encoder the pool finds the turns
nearest in meaning too (the knob `similar`), and then every reply people wrote is held back
by how far its turn is from yours in meaning (`match_weight`, engine/decoding/pool.py)."""

from __future__ import annotations

import time

import torch

from engine.retrieval import ReplyIndex, Retrieved, query_words
from engine.turn_encoder import LoadedTurnEncoder


class SimilarTurns:
    """The index's answered turns as unit vectors, in memory (97,000 x 384 floats, 148 MB as
    float32, so kept as float16: 74 MB), encoded when first needed."""

    def __init__(self, encoder: LoadedTurnEncoder, index: ReplyIndex) -> None:
        self.encoder = encoder
        self.index = index
        started = time.perf_counter()
        self._rows = index.rows()
        self._vectors = encoder.encode([row[0] for row in self._rows]).half()
        self.encode_seconds = time.perf_counter() - started

    def __len__(self) -> int:
        return len(self._rows)

    @torch.inference_mode()
    def search(self, turn: str, limit: int) -> list[Retrieved]:
        """Up to `limit` replies to the turns nearest `turn` in meaning, best first, each
        reply once; none for a turn without words."""
        if limit <= 0 or not query_words(turn):
            return []
        wanted = self.encoder.encode([turn])[0].half()
        scores = (self._vectors @ wanted).float()
        found: dict[str, Retrieved] = {}
        for row in torch.topk(scores, min(4 * limit, len(scores))).indices.tolist():
            prompt, reply, conversation, earlier = self._rows[row]
            key = " ".join(query_words(reply))
            if key not in found:
                turns = tuple(text for text in earlier.split("\n") if text)
                similarity = max(0.0, float(scores[row]))
                found[key] = Retrieved(prompt, reply, conversation, turns, similarity)
            if len(found) == limit:
                break
        return list(found.values())
