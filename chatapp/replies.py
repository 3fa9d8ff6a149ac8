"""What the store keeps about how a bot reply was made (shared by the app and the terminal chat)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine import Reply


def reply_fields(reply: Reply, model_version_id: int | None) -> dict[str, Any]:
    """What the store keeps about how a reply was made."""
    return {
        "model_version_id": model_version_id,
        "decoding": reply.config.to_dict(),
        "seed": reply.seed,
        "timings": {
            "ttft_ms": reply.first_token_ms,
            "total_ms": reply.total_ms,
            "tokens": len(reply.tokens),
            "tokens_per_s": reply.tokens_per_second,
        },
        "nbest": nbest_entries(reply),
        "stopped": reply.cancelled,
    }


def nbest_entries(reply: Reply) -> list[dict[str, Any]] | None:
    """The ranked alternatives of beam search and rerank (sampling has one reply only); a
    reranked entry also keeps its two scores and what the MMI term came from."""
    if reply.config.strategy == "beam":
        return [{"text": a.text, "score": a.score} for a in reply.alternatives]
    if reply.config.strategy == "rerank":
        return [
            {"text": a.text, "score": a.score, "forward": a.forward_score, "mmi": a.mmi_score,
             "scorer": reply.scorer}
            for a in reply.alternatives
        ]  # fmt: skip
    return None
