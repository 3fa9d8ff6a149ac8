"""The training loop of `main.py train`, on one process or several (DDP). Fine-tuning
(`engine/finetune/teach.py`) has its own short loop: weighted saved pairs, a fresh replay draw
every epoch, an L2 pull to the starting weights, and a state chosen by the forgetting guard.

AdamW, gradient clipping, masked cross-entropy (optional label smoothing), validation
perplexity at every evaluation, early stopping on it, a time budget, resume, cooperative stop,
and progress events through a callback. The caller owns the data and the output directory; the
loop saves the best model so far there (atomically) after every evaluation that improves it.

The loop reads top to bottom: `train` sets up a `_Run` (what stays fixed) and a `TrainState`
(where the run stands), then `_train_epoch` takes steps (`_take_step`), reports
(`_report`) and evaluates (`_evaluate`, which saves). Under torchrun (`engine.distributed`)
each optimiser step takes one batch per rank from the same batch list, DDP averages the
gradients (weighted by target tokens, so a step equals one single-process step over those
batches together), and rank 0 alone evaluates, saves and reports.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from engine.batching import Batch, EncodedExample, collate, make_batches
from engine.checkpoint import save_checkpoint
from engine.distributed import ProcessGroup
from engine.errors import ConfigError
from engine.finetune_figures import Perplexity
from engine.model import Seq2Seq
from engine.progress import (
    EndEvent,
    EvalEvent,
    ProgressCallback,
    ProgressEvent,
    StartEvent,
    StepEvent,
)
from engine.tokenizer import PAD_ID, Tokenizer
from engine.train_config import TrainConfig, cooldown_factor

REPORT_EVERY = 20  # steps between progress events


@dataclass
class TrainResult:
    best_valid_perplexity: float
    epochs_completed: int
    steps: int
    train_seconds: float
    tokens_per_second: float
    stopped_by: str  # "epochs" | "early_stopping" | "time_budget" | "cancelled"
    saved: bool


@dataclass
class TrainState:
    """Where a run stands. The first five fields are the `trainer` record a checkpoint keeps
    (and `resume` hands back); the rest count this run only."""

    epoch: int = 0
    batch_in_epoch: int = 0  # batches of this epoch's list trained on (by all ranks together)
    step: int = 0  # optimiser steps
    best: float = math.inf  # best validation perplexity so far
    bad_evals: int = 0  # evaluations since the best one
    tokens_seen: int = 0  # source + target tokens trained on in this run (all ranks)
    window_loss: float = 0.0  # this rank's target-token-weighted loss since the last report
    window_tokens: int = 0
    saved: bool = False
    stopped_by: str = "epochs"

    SAVED: ClassVar[tuple[str, ...]] = ("epoch", "batch_in_epoch", "step", "best", "bad_evals")

    @classmethod
    def resumed(cls, resume: dict[str, Any] | None) -> TrainState:
        saved = {key: resume[key] for key in cls.SAVED if key in (resume or {})}
        # A run saved before any evaluation (or with an empty validation slice) kept its best
        # perplexity, infinite, as JSON null: resuming it starts with nothing to beat.
        if saved.get("best") is None:
            saved.pop("best", None)
        return cls(**saved)

    def trainer_record(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.SAVED}


class _StepLoss(nn.Module):
    """The training loss as a module's forward, so that DDP's hooks run around it."""

    def __init__(self, model: Seq2Seq, config: TrainConfig) -> None:
        super().__init__()
        self.model, self.config = model, config

    def forward(self, batch: Batch) -> torch.Tensor:
        return training_loss(self.model, batch, self.config)


@dataclass
class _Run:
    """What stays fixed while a run trains."""

    model: Seq2Seq
    step_loss: nn.Module  # `_StepLoss`, in DDP on several processes
    optimizer: torch.optim.Optimizer
    tokenizer: Tokenizer
    train_data: Sequence[EncodedExample]
    valid_subset: list[EncodedExample]
    config: TrainConfig
    device: torch.device
    out_dir: str | Path | None
    base_record: dict[str, Any]
    emit: ProgressCallback
    stop_requested: Callable[[], bool]
    group: ProcessGroup | None
    total_steps: int
    started: float
    budget: float  # seconds

    @property
    def world_size(self) -> int:
        return self.group.world_size if self.group else 1

    @property
    def is_main(self) -> bool:
        return self.group is None or self.group.is_main

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def collectives(self) -> contextlib.AbstractContextManager:
        return self.group.errors() if self.group else contextlib.nullcontext()


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
) -> Perplexity:
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
    return Perplexity(math.exp(min(mean, 50.0)), mean, total_tokens, len(encoded))


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
    group: ProcessGroup | None = None,
) -> TrainResult:
    """Train `model` in place; save the best model to `out_dir` after each improving evaluation.

    `resume` is the `trainer` part of a saved training record: the loop skips the batches
    already seen in that epoch and keeps the best perplexity and patience count. With `group`
    (`engine.distributed.process_group`) this is one rank of a DDP run: call it on every rank
    with the same arguments; only rank 0 reports, evaluates and writes `out_dir`.
    """
    if not train_data:
        raise ConfigError("no training examples")
    if not valid_data:
        raise ConfigError("no validation examples (the corpus is too small to split)")
    _seed_everything(config.seed)
    model.to(device).train()
    state = TrainState.resumed(resume)
    run = _Run(
        model=model,
        step_loss=_StepLoss(model, config),
        optimizer=_optimizer(model, config, optimizer_state),
        tokenizer=tokenizer,
        train_data=train_data,
        valid_subset=list(valid_data[: config.max_valid_examples]),
        config=config,
        device=device,
        out_dir=out_dir,
        base_record=dict(record or {}),
        emit=on_progress if on_progress and (group is None or group.is_main) else _ignore,
        stop_requested=should_stop or (lambda: False),
        group=group,
        total_steps=_total_steps(train_data, config, group.world_size if group else 1, state),
        started=time.monotonic(),
        budget=config.max_minutes * 60 if config.max_minutes else math.inf,
    )
    if group is not None:
        run.step_loss = group.wrap(run.step_loss)
    run.emit(StartEvent(total_steps=run.total_steps, step=state.step,
                        train_examples=len(train_data), valid_examples=len(run.valid_subset),
                        world_size=run.world_size))  # fmt: skip
    while state.epoch < config.epochs and state.stopped_by == "epochs":
        _train_epoch(run, state)
    if state.stopped_by == "time_budget":
        _evaluate(run, state)
    return _finish(run, state)


def _ignore(event: ProgressEvent) -> None:
    pass


def _optimizer(
    model: Seq2Seq, config: TrainConfig, state: dict[str, Any] | None
) -> torch.optim.Optimizer:
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    if state is not None:
        optimizer.load_state_dict(state)
        for param_group in optimizer.param_groups:
            param_group["lr"] = config.learning_rate
    return optimizer


def _total_steps(
    data: Sequence[EncodedExample], config: TrainConfig, world_size: int, state: TrainState
) -> int:
    """Steps done plus steps to go at `world_size` batches a step (a run resumed on another
    number of processes takes its steps at the new rate)."""
    if state.epoch >= config.epochs:
        return state.step
    batches = len(make_batches(data, max_tokens=config.batch_tokens, shuffle=False))
    this_epoch = math.ceil(max(batches - state.batch_in_epoch, 0) / world_size)
    later = math.ceil(batches / world_size) * max(config.epochs - state.epoch - 1, 0)
    return state.step + this_epoch + later


def _train_epoch(run: _Run, state: TrainState) -> None:
    """Steps through the rest of this epoch's batches, `world_size` batches a step; sets
    `state.stopped_by` when the run should end here."""
    config = run.config
    batches = make_batches(
        run.train_data, max_tokens=config.batch_tokens, shuffle=True, seed=config.seed + state.epoch
    )
    while state.batch_in_epoch < len(batches):
        reason, elapsed = _stop_reason(run)
        if reason is not None:
            state.stopped_by = reason
            return
        share = batches[state.batch_in_epoch : state.batch_in_epoch + run.world_size]
        _take_step(run, state, share, elapsed)
        if state.step % REPORT_EVERY == 0 or state.batch_in_epoch == len(batches):
            _report(run, state)
        at_eval_step = config.eval_every and state.step % config.eval_every == 0
        if at_eval_step and _evaluate(run, state):
            state.stopped_by = "early_stopping"
            return
    state.epoch += 1
    state.batch_in_epoch = 0
    evaluated_already = config.eval_every and state.step % config.eval_every == 0
    if not evaluated_already and _evaluate(run, state):
        state.stopped_by = "early_stopping"


def _stop_reason(run: _Run) -> tuple[str | None, float]:
    """("cancelled" | "time_budget" | None, seconds elapsed), the same on every rank."""
    cancel, elapsed = run.stop_requested(), run.elapsed()
    if run.group is not None:
        cancel, elapsed = run.group.agree(cancel, elapsed)
    return stop_reason(cancel, elapsed, run.budget), elapsed


def stop_reason(cancel: bool, elapsed: float, budget: float) -> str | None:
    """Why a loop stops here ("cancelled" | "time_budget"), or None to go on (fine-tuning's
    loop decides the same way)."""
    if cancel:
        return "cancelled"
    if elapsed > budget:
        return "time_budget"
    return None


def _lengths(data: Sequence[EncodedExample], indices: Sequence[int]) -> tuple[int, int]:
    """(source tokens, target tokens) of a batch, from the examples (no tensors needed)."""
    return sum(len(data[i][0]) for i in indices), sum(len(data[i][1]) for i in indices)


def _take_step(run: _Run, state: TrainState, share: list[list[int]], elapsed: float) -> None:
    """One optimiser step over `share`: one batch per rank (a rank past its end repeats the
    first batch with weight 0). Each rank's mean loss is weighted by its share of the step's
    target tokens, so DDP's average is the mean over all of them, as on one process."""
    rank = run.group.rank if run.group else 0
    indices = share[rank] if rank < len(share) else share[0]
    totals = [_lengths(run.train_data, batch) for batch in share]
    own_targets = totals[rank][1] if rank < len(share) else 0
    batch = collate(run.train_data, indices, run.device)
    with run.collectives():
        with _autocast(run.device):
            loss = run.step_loss(batch)
        scaled = loss
        if run.group is not None:
            scaled = loss * (own_targets * run.world_size / sum(t for _, t in totals))
        run.optimizer.zero_grad(set_to_none=True)
        scaled.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.config.clip_norm)
    if run.config.lr_cooldown:
        progress = max(elapsed / run.budget, state.step / run.total_steps)
        rate = run.config.learning_rate * cooldown_factor(progress, run.config.lr_cooldown)
        for param_group in run.optimizer.param_groups:
            param_group["lr"] = rate
    run.optimizer.step()
    state.step += 1
    state.batch_in_epoch += len(share)
    state.tokens_seen += sum(source + target for source, target in totals)
    state.window_loss += loss.item() * own_targets
    state.window_tokens += own_targets


def _report(run: _Run, state: TrainState) -> None:
    """A "step" progress event (rank 0), with the loss over every rank since the last one."""
    window_loss, window_tokens = state.window_loss, state.window_tokens
    if run.group is not None:
        window_loss, window_tokens = run.group.sum([window_loss, window_tokens])
    state.window_loss, state.window_tokens = 0.0, 0
    elapsed = run.elapsed()
    done = state.step / max(run.total_steps, 1)
    run.emit(StepEvent(epoch=state.epoch, step=state.step, total_steps=run.total_steps,
                       loss=window_loss / max(window_tokens, 1),
                       learning_rate=run.optimizer.param_groups[0]["lr"],
                       tokens_per_s=state.tokens_seen / max(elapsed, 1e-9), elapsed_s=elapsed,
                       eta_s=min(elapsed / max(done, 1e-9) * (1 - done), run.budget - elapsed)
                       if done > 0 else None))  # fmt: skip


def _evaluate(run: _Run, state: TrainState) -> bool:
    """Validation perplexity on rank 0, a save when it improved; True to stop early (rank 0's
    decision, on every rank)."""
    if run.is_main:
        metrics = evaluate_perplexity(run.model, run.valid_subset, device=run.device)
        improved = metrics.perplexity < state.best - 1e-6
        if improved:
            state.best, state.bad_evals = metrics.perplexity, 0
        else:
            state.bad_evals += 1
        elapsed = run.elapsed()
        if improved and run.out_dir is not None:
            _save(run, state, metrics.perplexity, elapsed)
        run.emit(EvalEvent(epoch=state.epoch, step=state.step,
                           valid_perplexity=metrics.perplexity, valid_loss=metrics.loss,
                           best_valid_perplexity=state.best, improved=improved,
                           elapsed_s=elapsed))  # fmt: skip
        run.model.train()
    stop = state.bad_evals >= run.config.patience
    if run.group is not None:
        stop = bool(run.group.broadcast([float(stop)])[0])
    return stop


def _save(run: _Run, state: TrainState, perplexity: float, elapsed: float) -> None:
    assert run.out_dir is not None
    trainer = {**state.trainer_record(), "seconds": run.base_record.get("seconds", 0.0) + elapsed}
    record = {
        **run.base_record,
        "train_config": asdict(run.config),
        "trainer": trainer,
        "seconds": trainer["seconds"],
        "valid_perplexity": perplexity,
        "device": str(run.device),
    }
    if run.world_size > 1:
        record["world_size"] = run.world_size
    save_checkpoint(
        run.out_dir,
        model=run.model,
        tokenizer=run.tokenizer,
        record=record,
        optimizer_state=run.optimizer.state_dict(),
        weights_dtype=getattr(torch, run.config.weights_dtype),
    )
    state.saved = True


def _finish(run: _Run, state: TrainState) -> TrainResult:
    """The result (rank 0's best and saved, on every rank) and the "end" event."""
    if run.group is not None:
        best, saved = run.group.broadcast([state.best, float(state.saved)])
        state.best, state.saved = best, bool(saved)
    elapsed = run.elapsed()
    result = TrainResult(
        best_valid_perplexity=state.best,
        epochs_completed=state.epoch,
        steps=state.step,
        train_seconds=elapsed,
        tokens_per_second=state.tokens_seen / max(elapsed, 1e-9),
        stopped_by=state.stopped_by,
        saved=state.saved,
    )
    run.emit(end_event(result))
    return result


def end_event(
    result: TrainResult, chosen_epoch: int | None = None, chosen_mix: float | None = None
) -> EndEvent:
    """The "end" event of a loop that returns `result` (fine-tuning adds the state it kept)."""
    return EndEvent(**asdict(result), chosen_epoch=chosen_epoch, chosen_mix=chosen_mix)
