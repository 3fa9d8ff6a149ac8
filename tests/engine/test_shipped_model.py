"""Smoke tests of the shipped default model in resources/model (found as package data)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Chatbot
from engine.checkpoint import load_checkpoint
from engine.decoding.config import PRESETS
from engine.default_model import default_model_dir
from engine.sources import ReplySource

REPO = Path(__file__).resolve().parents[2]
PROMPT = "Hi! What do you like to do on weekends?"


@pytest.fixture(scope="module")
def shipped() -> Chatbot:
    return Chatbot.load(device="cpu")


def test_the_default_model_is_found_as_package_data():
    folder = default_model_dir()
    assert (folder / "model.safetensors").is_file()
    assert (folder / "MODEL_CARD.md").is_file()
    assert (folder / "replies.sqlite").is_file()  # the pool's index of replies people wrote
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    assert size <= 60 * 1024 * 1024  # the models, the backward model and the index


def test_its_config_and_tokenizer_agree():
    checkpoint = load_checkpoint(default_model_dir())
    assert checkpoint.tokenizer.vocab_size == checkpoint.config.vocab_size
    assert checkpoint.record["corpus"] == "chitchat"
    config = json.loads((default_model_dir() / "config.json").read_text(encoding="utf-8"))
    assert config["weights_dtype"] in ("float16", "float32")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_it_replies_with_each_preset(shipped: Chatbot, preset: str):
    config = PRESETS[preset]
    if config.strategy == "sample":
        config = config.replace(seed=1)
    reply = shipped.reply([PROMPT], config)
    assert reply.text.strip()
    assert reply.text.strip() != PROMPT
    assert not reply.cancelled


def test_eval_generate_reports_the_card_metrics():
    completed = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "eval", "--corpus", "chitchat", "--split",
         "test", "--limit", "40", "--generate", "4", "--device", "cpu"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["examples"] == 40 and result["prompts"] == 4
    assert 1 < result["perplexity"] < 1000
    for key in ("distinct_1", "distinct_2", "generic_reply_rate"):
        assert 0.0 <= result[key] <= 1.0
    assert result["empty_replies"] == 0


def test_the_default_preset_answers_from_the_shipped_index(shipped: Chatbot) -> None:
    assert shipped.index is not None and len(shipped.index) > 90_000
    assert shipped.index.split == "train"
    reply = shipped.reply(["do you have any siblings?"], PRESETS["balanced"])
    assert reply.source is ReplySource.CORPUS
    assert reply.origin.startswith("chitchat conversation ")


def test_it_ships_the_turn_encoder_the_corrections_gate_reads(shipped: Chatbot) -> None:
    encoder = shipped.turn_encoder()
    assert encoder is not None, shipped.similar_problem
    assert encoder.tokenizer.to_bytes() == shipped.tokenizer.to_bytes()
    near, far = (
        encoder.encode(["what do you do for a living?", "what is your job?", "it snowed"])[1:]
        @ encoder.encode(["what do you do for a living?"])[0]
    )
    assert near > far  # a rewording is nearer than another topic
