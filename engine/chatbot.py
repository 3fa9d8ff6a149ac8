"""`Chatbot`: the engine's facade for apps: load a model directory, reply to a conversation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.batching import encode_context
from engine.checkpoint import Checkpoint, load_checkpoint
from engine.decoding.config import DecodeConfig
from engine.decoding.generate import StopCallback, TokenCallback, generate
from engine.default_model import default_model_dir
from engine.device import resolve_device
from engine.errors import GenerationError
from engine.tokenizer import BOS_ID, EOS_ID

MAX_TURN_CHARS = 20_000  # longer turns are cut (the model reads ~100 tokens of context anyway)


@dataclass(frozen=True)
class Alternative:
    text: str
    score: float
    finished: bool


@dataclass(frozen=True)
class Reply:
    text: str
    tokens: list[int]
    alternatives: list[Alternative]  # the n-best list, best first (the reply itself included)
    config: DecodeConfig
    seed: int | None  # the sampling seed actually used, so a reply can be reproduced
    cancelled: bool
    first_token_ms: float | None
    total_ms: float
    context_pieces: list[str] = field(default_factory=list)
    reply_pieces: list[str] = field(default_factory=list)
    attention: list[list[float]] = field(default_factory=list)  # (reply pieces, context pieces)

    @property
    def tokens_per_second(self) -> float:
        return len(self.tokens) / max(self.total_ms / 1000, 1e-9)


class Chatbot:
    def __init__(self, checkpoint: Checkpoint, device: torch.device) -> None:
        self.checkpoint = checkpoint
        self.model = checkpoint.model
        self.tokenizer = checkpoint.tokenizer
        self.config = checkpoint.config
        self.device = device
        self.quantized = False

    @classmethod
    def load(
        cls,
        model_dir: str | Path | None = None,
        *,
        device: str = "auto",
        quantize: str | None = None,
    ) -> Chatbot:
        """Load `model_dir` (default: the shipped model) onto `device` (auto|cpu|cuda)."""
        torch_device = resolve_device(device)
        checkpoint = load_checkpoint(model_dir or default_model_dir(), device=torch_device)
        bot = cls(checkpoint, torch_device)
        if quantize and quantize != "none":
            bot.quantize(quantize)
        return bot

    @property
    def model_dir(self) -> Path:
        return self.checkpoint.directory

    def quantize(self, kind: str) -> None:
        from engine.quantize import quantize_model

        self.model = quantize_model(self.model, kind, self.device)
        self.quantized = True

    def prepare_context(self, history: list[str]) -> tuple[list[int], list[int]]:
        """The encoder's ids for `history` (oldest turns dropped first) and the last turn's ids."""
        if not history:
            raise GenerationError("there is nothing to reply to: the conversation is empty")
        turns = []
        for turn in history:
            if not isinstance(turn, str) or not turn.strip():
                raise GenerationError("a message is empty: type something to send")
            turns.append(" ".join(turn[-MAX_TURN_CHARS:].split()))
        context = encode_context(self.tokenizer, turns, self.config)
        return context, self.tokenizer.encode(turns[-1])

    @torch.inference_mode()
    def attention(
        self, history: list[str], reply_text: str
    ) -> tuple[list[str], list[str], list[list[float]]]:
        """Context pieces, reply pieces and the attention of each reply piece over the context,
        from teacher-forcing `reply_text` (so any stored reply can be explained later)."""
        context, _ = self.prepare_context(history)
        target = self.tokenizer.encode(reply_text)[: self.config.max_response_tokens] or [EOS_ID]
        src = torch.tensor([context], device=self.device)
        memory, hidden = self.model.encode(src, torch.tensor([len(context)]))
        inputs = torch.tensor([[BOS_ID, *target[:-1]]], device=self.device)
        _, _, weights = self.model.decoder(inputs, hidden, memory)  # (1, T, S)
        pieces = self.tokenizer.pieces(target)
        return self.tokenizer.pieces(context), pieces, weights[0].float().cpu().tolist()

    def reply(
        self,
        history: list[str],
        config: DecodeConfig | None = None,
        *,
        on_token: TokenCallback | None = None,
        should_stop: StopCallback | None = None,
    ) -> Reply:
        """Reply to the last turn of `history` (user and bot turns alternating, oldest first)."""
        config = config or DecodeConfig()
        started = time.perf_counter()
        context, user_turn = self.prepare_context(history)
        generation = generate(
            self.model,
            self.tokenizer,
            context,
            config,
            user_turn_ids=user_turn,
            on_token=on_token,
            should_stop=should_stop,
            device=self.device,
        )
        best = generation.hypotheses[0]
        total_ms = (time.perf_counter() - started) * 1000
        return Reply(
            text=generation.texts[0],
            tokens=list(best.tokens),
            alternatives=[
                Alternative(text, hypothesis.score, hypothesis.finished)
                for text, hypothesis in zip(generation.texts, generation.hypotheses)
            ],
            config=config,
            seed=generation.seed,
            cancelled=generation.cancelled,
            first_token_ms=None
            if generation.first_token_s is None
            else generation.first_token_s * 1000 + (total_ms - generation.total_s * 1000),
            total_ms=total_ms,
            context_pieces=self.tokenizer.pieces(context),
            reply_pieces=self.tokenizer.pieces(best.tokens),
            attention=generation.attention[0],
        )
