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
        "nbest": [{"text": a.text, "score": a.score} for a in reply.alternatives]
        if reply.config.strategy == "beam"
        else None,
        "stopped": reply.cancelled,
    }
