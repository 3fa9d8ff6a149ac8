"""Distilling the turn encoder (engine/turn_encoder.py) from a sentence encoder's vectors of
the same turns, and its measure: how often the teacher's nearest turn is among the student's
ten nearest (of the held-out turns)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from engine.tokenizer import Tokenizer
from engine.turn_encoder import TurnEncoder, TurnEncoderConfig, encode_turns, piece_batch

HELD_OUT_SHARE = 0.05  # of the turns, kept from training to measure on
NEIGHBOURS = 10


@dataclass(frozen=True)
class DistillSettings:
    epochs: int = 12
    batch_size: int = 256
    learning_rate: float = 2e-3
    max_minutes: float = 30.0
    seed: int = 0


@dataclass(frozen=True)
class DistillProgress:
    epoch: int
    loss: float  # 1 - the mean cosine of the student's and the teacher's vectors, training
    held_out_cosine: float  # the same on the held-out turns
    neighbour_recall: float  # the teacher's nearest held-out turn among the student's ten
    elapsed_s: float


def distill_turn_encoder(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    teacher: torch.Tensor,
    settings: DistillSettings,
    on_epoch: Callable[[DistillProgress], None] | None = None,
) -> tuple[TurnEncoder, list[DistillProgress]]:
    """A student that gives `teacher[i]` (unit vectors) for `texts[i]`, trained for
    `settings.epochs` or `max_minutes`, whichever ends first: the weights of its best
    held-out neighbour recall."""
    if len(texts) != len(teacher) or len(texts) < 2 * NEIGHBOURS:
        raise ValueError("distilling needs one teacher vector per turn and at least 20 turns")
    torch.manual_seed(settings.seed)
    order = list(range(len(texts)))
    random.Random(settings.seed).shuffle(order)
    held = max(NEIGHBOURS + 1, int(len(order) * HELD_OUT_SHARE))
    held_rows, train_rows = order[:held], order[held:]
    targets = teacher.float()
    encoder = TurnEncoder(
        TurnEncoderConfig(vocab_size=tokenizer.vocab_size, out_dim=int(teacher.shape[1]))
    )
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=settings.learning_rate)
    pieces = [piece_batch(tokenizer, [text])[0] for text in texts]
    held_texts = [texts[row] for row in held_rows]
    started = time.monotonic()
    history: list[DistillProgress] = []
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    shuffler = random.Random(settings.seed + 1)
    for epoch in range(settings.epochs):
        encoder.train()
        shuffler.shuffle(train_rows)
        losses = []
        for start in range(0, len(train_rows), settings.batch_size):
            rows = train_rows[start : start + settings.batch_size]
            ids = torch.nn.utils.rnn.pad_sequence([pieces[row] for row in rows], batch_first=True)
            loss = 1.0 - (encoder(ids) * targets[rows]).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        student = encode_turns(encoder, tokenizer, held_texts)
        progress = DistillProgress(
            epoch,
            sum(losses) / max(len(losses), 1),
            float((student * targets[held_rows]).sum(1).mean()),
            neighbour_recall(student, targets[held_rows]),
            time.monotonic() - started,
        )
        history.append(progress)
        if on_epoch is not None:
            on_epoch(progress)
        if best is None or progress.neighbour_recall > best[0]:
            state = {name: value.detach().clone() for name, value in encoder.state_dict().items()}
            best = (progress.neighbour_recall, state)
        if progress.elapsed_s > settings.max_minutes * 60:
            break
    assert best is not None
    encoder.load_state_dict(best[1])
    return encoder.eval(), history


def neighbour_recall(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """The share of turns whose nearest other turn by the teacher is among the student's
    `NEIGHBOURS` nearest."""
    eye = torch.eye(len(teacher), dtype=torch.bool)
    nearest = (teacher @ teacher.T).masked_fill(eye, -2.0).argmax(1)
    student_top = (student @ student.T).masked_fill(eye, -2.0).topk(NEIGHBOURS, dim=1).indices
    return float((student_top == nearest.unsqueeze(1)).any(1).float().mean())
