"""One training loop for pre-training and fine-tuning.

AdamW, gradient clipping, masked cross-entropy (optional label smoothing), validation
perplexity at every evaluation, early stopping on it, a time budget, resume, cooperative stop,
and progress events through a callback. The caller owns the data and the output directory; the
loop saves the best model so far there (atomically) after every evaluation that improves it.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from engine.batching import Batch, EncodedExample, collate, make_batches
from engine.checkpoint import save_checkpoint
from engine.errors import ConfigError
from engine.model import Seq2Seq
from engine.tokenizer import PAD_ID, Tokenizer
from engine.train_config import TrainConfig, cooldown_factor

ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    best_valid_perplexity: float
    epochs_completed: int
    steps: int
    train_seconds: float
    tokens_per_second: float
    stopped_by: str  # "epochs" | "early_stopping" | "time_budget" | "cancelled"
    saved: bool


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def masked_loss(
    logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy over the real (non-pad) target tokens."""
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        target.reshape(-1),
        ignore_index=PAD_ID,
        label_smoothing=label_smoothing,
    )


def training_loss(model: Seq2Seq, batch: Batch, config: TrainConfig) -> torch.Tensor:
    """The mean loss of one batch: `Seq2Seq.loss`, or the per-step baseline when asked for."""
    if config.stepwise_decoder:
        logits = model.forward_stepwise(batch.src, batch.src_lengths, batch.target_in)
        return masked_loss(logits, batch.target_out, config.label_smoothing)
    return model.loss(
        batch.src, batch.src_lengths, batch.target_in, batch.target_out,
        label_smoothing=config.label_smoothing,
    )  # fmt: skip


@torch.inference_mode()
def evaluate_perplexity(
    model: Seq2Seq,
    encoded: Sequence[EncodedExample],
    *,
    device: torch.device,
    batch_tokens: int = 8000,
) -> dict[str, float]:
    """Perplexity = exp(mean negative log-likelihood per target token, eos included)."""
    was_training = model.training
    model.eval()
    total_nll, total_tokens = 0.0, 0
    for indices in make_batches(encoded, max_tokens=batch_tokens, shuffle=False):
        batch = collate(encoded, indices, device)
        with _autocast(device):
            nll = model.loss(
                batch.src, batch.src_lengths, batch.target_in, batch.target_out, reduction="sum"
            )
        total_nll += float(nll)
        total_tokens += batch.target_tokens
    model.train(was_training)
    mean = total_nll / max(total_tokens, 1)
    return {
        "perplexity": math.exp(min(mean, 50.0)),
        "loss": mean,
        "tokens": total_tokens,
        "examples": len(encoded),
    }


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def train(
    model: Seq2Seq,
    tokenizer: Tokenizer,
    train_data: Sequence[EncodedExample],
    valid_data: Sequence[EncodedExample],
    config: TrainConfig,
    *,
    out_dir: str | Path | None,
    device: torch.device,
    record: dict[str, Any] | None = None,
    resume: dict[str, Any] | None = None,
    optimizer_state: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train `model` in place; save the best model to `out_dir` after each improving evaluation.

    `resume` is the `trainer` part of a saved training record: the loop skips the batches
    already seen in that epoch and keeps the best perplexity and patience count.
    """
    if not train_data:
        raise ConfigError("no training examples")
    if not valid_data:
        raise ConfigError("no validation examples (the corpus is too small to split)")
    emit = on_progress or (lambda event: None)
    stop_requested = should_stop or (lambda: False)
    _seed_everything(config.seed)
    model.to(device).train()
    valid_subset = list(valid_data[: config.max_valid_examples])
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate
    state = {"epoch": 0, "batch_in_epoch": 0, "step": 0, "best": math.inf, "bad_evals": 0}
    if resume:
        state.update({key: resume[key] for key in state if key in resume})
    base_record = dict(record or {})
    batches_per_epoch = len(make_batches(train_data, max_tokens=config.batch_tokens, shuffle=False))
    total_steps = batches_per_epoch * config.epochs
    started = time.monotonic()
    budget = config.max_minutes * 60 if config.max_minutes else math.inf
    tokens_seen, saved, stopped_by = 0, False, "epochs"
    window_loss, window_tokens = 0.0, 0
    emit({"event": "start", "total_steps": total_steps, "step": state["step"],
          "train_examples": len(train_data), "valid_examples": len(valid_subset)})  # fmt: skip

    def evaluate_and_maybe_save() -> bool:
        nonlocal saved
        metrics = evaluate_perplexity(model, valid_subset, device=device)
        improved = metrics["perplexity"] < state["best"] - 1e-6
        if improved:
            state["best"], state["bad_evals"] = metrics["perplexity"], 0
        else:
            state["bad_evals"] += 1
        elapsed = time.monotonic() - started
        if improved and out_dir is not None:
            trainer = {**state, "seconds": base_record.get("seconds", 0.0) + elapsed}
            full_record = {
                **base_record,
                "train_config": asdict(config),
                "trainer": trainer,
                "seconds": trainer["seconds"],
                "valid_perplexity": metrics["perplexity"],
                "device": str(device),
            }
            save_checkpoint(
                out_dir,
                model=model,
                tokenizer=tokenizer,
                record=full_record,
                optimizer_state=optimizer.state_dict(),
                weights_dtype=getattr(torch, config.weights_dtype),
            )
            saved = True
        emit({"event": "eval", "epoch": state["epoch"], "step": state["step"],
              "valid_perplexity": metrics["perplexity"], "valid_loss": metrics["loss"],
              "best_valid_perplexity": state["best"], "improved": improved,
              "elapsed_s": elapsed})  # fmt: skip
        model.train()
        return state["bad_evals"] >= config.patience

    while state["epoch"] < config.epochs and stopped_by == "epochs":
        batches = make_batches(
            train_data,
            max_tokens=config.batch_tokens,
            shuffle=True,
            seed=config.seed + state["epoch"],
        )
        for indices in batches[state["batch_in_epoch"] :]:
            if stop_requested():
                stopped_by = "cancelled"
                break
            if time.monotonic() - started > budget:
                stopped_by = "time_budget"
                break
            batch = collate(train_data, indices, device)
            with _autocast(device):
                loss = training_loss(model, batch, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            if config.lr_cooldown:
                progress = max((time.monotonic() - started) / budget, state["step"] / total_steps)
                rate = config.learning_rate * cooldown_factor(progress, config.lr_cooldown)
                for group in optimizer.param_groups:
                    group["lr"] = rate
            optimizer.step()
            state["step"] += 1
            state["batch_in_epoch"] += 1
            target_tokens = batch.target_tokens
            tokens_seen += target_tokens + batch.source_tokens
            window_loss += loss.item() * target_tokens
            window_tokens += target_tokens
            elapsed = time.monotonic() - started
            if state["step"] % 20 == 0 or state["batch_in_epoch"] == len(batches):
                done = state["step"] / max(total_steps, 1)
                emit({"event": "step", "epoch": state["epoch"], "step": state["step"],
                      "total_steps": total_steps, "loss": window_loss / max(window_tokens, 1),
                      "learning_rate": optimizer.param_groups[0]["lr"],
                      "tokens_per_s": tokens_seen / max(elapsed, 1e-9), "elapsed_s": elapsed,
                      "eta_s": min(elapsed / max(done, 1e-9) * (1 - done), budget - elapsed)
                      if done > 0 else None})  # fmt: skip
                window_loss, window_tokens = 0.0, 0
            at_eval_step = config.eval_every and state["step"] % config.eval_every == 0
            if at_eval_step and evaluate_and_maybe_save():
                stopped_by = "early_stopping"
                break
        else:
            state["epoch"] += 1
            state["batch_in_epoch"] = 0
            evaluated_already = config.eval_every and state["step"] % config.eval_every == 0
            if not evaluated_already and evaluate_and_maybe_save():
                stopped_by = "early_stopping"
            continue
        break
    if stopped_by == "time_budget":
        evaluate_and_maybe_save()
    elapsed = time.monotonic() - started
    result = TrainResult(
        best_valid_perplexity=state["best"],
        epochs_completed=state["epoch"],
        steps=state["step"],
        train_seconds=elapsed,
        tokens_per_second=tokens_seen / max(elapsed, 1e-9),
        stopped_by=stopped_by,
        saved=saved,
    )
    emit({"event": "end", **asdict(result)})
    return result
