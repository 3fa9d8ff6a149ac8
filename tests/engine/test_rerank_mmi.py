"""Rerank's MMI term checked against an independent oracle (#27 item 6): the backward model,
teacher-forced here with its own `loss` on tensors built by hand, gives log p(your turn | reply)
per token of your turn; each candidate's `mmi_score` must be that, and its score the forward
term plus λ times it."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from engine import Chatbot
from engine.decoding.config import DecodeConfig
from engine.tokenizer import BOS_ID, EOS_ID

TURN = "how are you?"
RERANK = DecodeConfig(strategy="rerank", candidates=8, temperature=1.5, mmi_weight=1.0, seed=11)


def backward_log_prob_per_token(bot: Chatbot, reply: str, turn: str) -> float:
    """Mean log p(turn | reply) per token of `turn` (eos counted), by one teacher-forced pass."""
    backward = bot.backward
    assert backward is not None
    source = bot.tokenizer.encode(reply)  # a one-turn context is the turn's own pieces
    target = [*bot.tokenizer.encode(turn), EOS_ID]
    src = torch.tensor([source])
    target_in = torch.tensor([[BOS_ID, *target[:-1]]])
    target_out = torch.tensor([target])
    with torch.inference_mode():
        mean_nll = backward.loss(src, torch.tensor([len(source)]), target_in, target_out)
    return -float(mean_nll)


def test_the_mmi_term_is_the_backward_models_log_prob_per_token(
    tiny_model_with_backward_dir: Path,
) -> None:
    bot = Chatbot.load(tiny_model_with_backward_dir, device="cpu")
    reply = bot.reply([TURN], RERANK)
    candidates = [a for a in reply.alternatives if a.text.strip()]
    assert len(candidates) >= 2
    for candidate in candidates:
        expected = backward_log_prob_per_token(bot, candidate.text, TURN)
        assert candidate.mmi_score is not None
        assert math.isclose(candidate.mmi_score, expected, rel_tol=1e-4, abs_tol=1e-5), (
            candidate.text
        )
        total = candidate.forward_score + RERANK.mmi_weight * expected
        assert math.isclose(candidate.score, total, rel_tol=1e-4, abs_tol=1e-5)
