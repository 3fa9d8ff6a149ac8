"""After a model switch the memory's vectors are the new model's (#27 item 6): a near match's
similarity must be the cosine of the new model's representations, computed here on their own."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import Chatbot
from engine.data import normalise
from engine.memory import Correction, CorrectionMemory

PROMPT, TURN = "what is your name?", "tell me your name"  # both about "you", not the same words


def representation(bot: Chatbot, text: str) -> torch.Tensor:
    """The encoder outputs of `text` alone (normalised as the corpus is), averaged, unit length."""
    ids = bot.tokenizer.encode(normalise(text))
    with torch.inference_mode():
        memory, _ = bot.model.encode(torch.tensor([ids]), torch.tensor([len(ids)]))
    return torch.nn.functional.normalize(memory.outputs[0].float().mean(dim=0), dim=0)


def similarity(bot: Chatbot) -> float:
    return float(representation(bot, PROMPT) @ representation(bot, TURN))


def test_a_switched_model_recomputes_the_corrections_vectors(tiny_model_dir: Path):
    first = Chatbot.load(tiny_model_dir, device="cpu")
    second = Chatbot.load(tiny_model_dir, device="cpu")  # as a fine-tuned version would be:
    generator = torch.Generator().manual_seed(0)  # the same tokenizer, other weights
    with torch.no_grad():
        for parameter in second.model.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    assert similarity(first) != pytest.approx(similarity(second), abs=1e-3)
    # A threshold below any cosine: the nearest correction always matches, with its similarity.
    memory = CorrectionMemory([Correction(PROMPT, "i am bot.")], threshold=-1.0)
    before = memory.lookup(first, TURN)
    assert before is not None and not before.exact
    assert before.similarity == pytest.approx(similarity(first), abs=1e-4)
    after = memory.lookup(second, TURN)
    assert after is not None
    assert after.similarity == pytest.approx(similarity(second), abs=1e-4)
    again = memory.lookup(first, TURN)  # and back: the first model's own vectors again
    assert again is not None and again.similarity == pytest.approx(similarity(first), abs=1e-4)
