"""What the decoding knobs are called on screen; the engine names them for code."""

from __future__ import annotations

# Names that read wrong once capitalised ("Mmi weight", "Anti lm weight", "Top p"); none is
# wider than "No repeat ngram size", which sets how narrow the decoding dock can get.
_LABELS = {
    "top_k": "Top-k",
    "top_p": "Top-p",
    "mmi_weight": "MMI weight (λ)",
    "anti_lm_weight": "Anti-LM weight",
    "retrieved": "Replies people wrote",
    "similar": "Similar-turn replies",
    "generated_offset": "Model reply offset",
    "match_weight": "Turn match weight",
    "own_context_weight": "Own-chat weight",
    "fit_weight": "Reply fit weight",
}


def knob_label(name: str) -> str:
    return _LABELS.get(name) or name.replace("_", " ").capitalize()
