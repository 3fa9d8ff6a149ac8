"""The teaching loop: saved pairs weighted by kind, a fresh replay draw every epoch (distilled
from the starting model), an L2 pull toward the starting weights (L2-SP), the forgetting
guard's checks, and weight-space mixes of the trained and the starting model at the end.

It shares with `engine/train.py` what is the same (the result, the progress events, how a
stop is decided, the perplexity); what differs is the weighted loss and the replay."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from engine.batching import EncodedExample, collate, make_batches
from engine.data import Example
from engine.finetune.data import SavedPair, replay_examples
from engine.finetune.guard import Choice, Guard
from engine.finetune_config import FinetuneConfig
from engine.model import Seq2Seq
from engine.progress import EvalEvent, ProgressCallback, StartEvent, StepEvent
from engine.tokenizer import PAD_ID
from engine.train import TrainResult, end_event, stop_reason
from engine.train_config import cooldown_factor


def weighted_loss(
    model: Seq2Seq,
    batch: Any,
    weights: torch.Tensor,
    *,
    teacher: Seq2Seq | None = None,
    replay_rows: torch.Tensor | None = None,
    distill: float = 0.0,
) -> torch.Tensor:
    """Token loss, each token weighted by its example's weight, over the token count.

    Saved pairs: cross-entropy. Replayed rows, with a `teacher` (the starting model): a
    `distill` share of the loss is the KL divergence from the teacher's next-token distribution,
    which holds the model's general chat where it was far more tightly than the data alone.
    """
    memory, hidden = model.encode(batch.src, batch.src_lengths)
    combined, _, _ = model.decoder.features(batch.target_in, hidden, memory)  # (B, T, E)
    real = batch.target_out.ne(PAD_ID)  # (B, T)
    log_probs = F.log_softmax(model.decoder.output_logits(combined[real]).float(), dim=-1)
    token_losses = -log_probs.gather(1, batch.target_out[real][:, None]).squeeze(1)  # (N,)
    if teacher is not None and replay_rows is not None and distill > 0 and replay_rows.any():
        with torch.no_grad():
            memory, hidden = teacher.encode(batch.src, batch.src_lengths)
            combined, _, _ = teacher.decoder.features(batch.target_in, hidden, memory)
            target = F.log_softmax(teacher.decoder.output_logits(combined[real]).float(), -1)
        kl = (target.exp() * (target - log_probs)).sum(dim=-1)  # (N,)
        replay_tokens = replay_rows[:, None].expand_as(real)[real]  # (N,)
        mixed = (1 - distill) * token_losses + distill * kl
        token_losses = torch.where(replay_tokens, mixed, token_losses)
    token_weights = weights[:, None].expand_as(real)[real]  # (N,)
    return (token_losses * token_weights).sum() / real.sum()


def _parameter_groups(model: Seq2Seq, encoder_rate: float) -> list[dict[str, Any]]:
    """The decoder at the full rate; the (shared) embedding and the encoder at `encoder_rate`
    of it, or left out of the optimizer when that is 0."""
    slow = {id(parameter) for parameter in model.encoder.parameters()}
    slow.add(id(model.embedding.weight))
    decoder = [p for p in model.parameters() if id(p) not in slow]
    encoder = [p for p in model.parameters() if id(p) in slow]
    groups = [{"params": decoder, "scale": 1.0}]
    if encoder_rate > 0:
        groups.append({"params": encoder, "scale": encoder_rate})
    return groups


def mixed(
    start: dict[str, torch.Tensor], end: dict[str, torch.Tensor], mix: float
) -> dict[str, torch.Tensor]:
    """`mix` of the way from the `start` weights to the `end` weights."""
    return {
        name: start[name] + mix * (end[name] - start[name]) if end[name].is_floating_point()
        else end[name]
        for name in end
    }  # fmt: skip


def _replay_seed(config: FinetuneConfig, epoch: int) -> int:
    return config.seed * 7919 + epoch  # other examples every epoch, the same ones every run


@dataclass
class _TeachRun:
    """What one teaching run holds: the model and its optimizer, the data, the counters."""

    model: Seq2Seq
    config: FinetuneConfig
    device: torch.device
    taught: list[EncodedExample]  # the saved pairs, encoded
    taught_weights: list[float]
    replay_pool: Sequence[Example]
    encode: Callable[[Sequence[Example]], list[EncodedExample]]
    emit: ProgressCallback
    stop: Callable[[], bool]
    optimizer: torch.optim.Optimizer
    trained: list[torch.nn.Parameter]  # the parameters the optimizer moves
    anchor: list[torch.Tensor]  # the starting weights, for the L2-SP pull
    teacher: Seq2Seq | None  # the starting model, for distillation on replayed rows
    batch_tokens: int
    total_steps: int
    first_replay: list[EncodedExample] = field(default_factory=list)  # epoch 0's, encoded once
    started: float = field(default_factory=time.monotonic)
    step: int = 0
    tokens_seen: int = 0
    window_loss: float = 0.0
    window_tokens: int = 0

    @property
    def budget(self) -> float:
        return self.config.max_minutes * 60 if self.config.max_minutes else math.inf

    @property
    def replay_count(self) -> int:
        return round(self.config.replay * len(self.taught))

    def epoch_data(self, epoch: int) -> tuple[list[EncodedExample], list[float]]:
        """The saved pairs and this epoch's fresh draw of replayed corpus examples."""
        if epoch == 0 and self.first_replay:
            replay = self.first_replay  # drawn and encoded already, to size the batches
        else:
            seed = _replay_seed(self.config, epoch)
            replay = self.encode(replay_examples(self.replay_pool, self.replay_count, seed=seed))
        return [*self.taught, *replay], [*self.taught_weights, *([1.0] * len(replay))]


def _start_teaching(
    model: Seq2Seq,
    training: Sequence[SavedPair],
    replay_pool: Sequence[Example],
    encode: Callable[[Sequence[Example]], list[EncodedExample]],
    config: FinetuneConfig,
    device: torch.device,
    emit: ProgressCallback,
    stop: Callable[[], bool],
) -> _TeachRun:
    torch.manual_seed(config.seed)
    model.to(device).train()
    teacher = None
    if config.distill > 0:
        teacher = copy.deepcopy(model).eval()
        teacher.requires_grad_(False)
    groups = _parameter_groups(model, config.encoder_rate)
    trained = [parameter for group in groups for parameter in group["params"]]
    for parameter in model.parameters():  # frozen ones need no gradient
        parameter.requires_grad_(any(parameter is other for other in trained))
    taught = encode([pair.example for pair in training])
    replay_count = round(config.replay * len(training))
    first_replay = encode(replay_examples(replay_pool, replay_count, seed=_replay_seed(config, 0)))
    first = [*taught, *first_replay]
    batch_tokens = config.batch_tokens_for(sum(len(s) + len(t) for s, t in first))
    steps_per_epoch = len(make_batches(first, max_tokens=batch_tokens, shuffle=False))
    return _TeachRun(
        model=model, config=config, device=device, taught=taught,
        taught_weights=[config.weight_of(pair.kind) for pair in training],
        replay_pool=replay_pool, encode=encode, emit=emit, stop=stop,
        optimizer=torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=0.0),
        trained=trained, anchor=[parameter.detach().clone() for parameter in model.parameters()],
        teacher=teacher, batch_tokens=batch_tokens, total_steps=steps_per_epoch * config.epochs,
        first_replay=first_replay,
    )  # fmt: skip


def _teach_epoch(run: _TeachRun, epoch: int) -> str | None:
    """One pass over the saved pairs and a fresh replay draw; the reason to stop, if any."""
    data, weights = run.epoch_data(epoch)
    batches = make_batches(data, max_tokens=run.batch_tokens, shuffle=True, seed=epoch)
    for index, indices in enumerate(batches):
        elapsed = time.monotonic() - run.started
        reason = stop_reason(run.stop(), elapsed, run.budget)
        if reason is not None:
            return reason
        progress = max((epoch + index / len(batches)) / run.config.epochs, elapsed / run.budget)
        rate = run.config.learning_rate * cooldown_factor(progress, run.config.cooldown)
        _teach_step(run, data, weights, indices, rate)
        if run.step % 10 == 0 or index == len(batches) - 1:
            _report_step(run, epoch, rate, elapsed)
    return None


def _teach_step(
    run: _TeachRun,
    data: Sequence[EncodedExample],
    weights: Sequence[float],
    indices: Sequence[int],
    rate: float,
) -> None:
    """One update: weighted loss (distilled on replayed rows) plus the L2-SP pull."""
    model, device = run.model, run.device
    batch = collate(data, indices, device)
    batch_weights = torch.tensor([weights[i] for i in indices], device=device)
    replay_rows = torch.tensor([i >= len(run.taught) for i in indices], device=device)
    loss = weighted_loss(model, batch, batch_weights, teacher=run.teacher,
                          replay_rows=replay_rows, distill=run.config.distill)  # fmt: skip
    pull = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), run.anchor))
    for group in run.optimizer.param_groups:
        group["lr"] = rate * group["scale"]
    run.optimizer.zero_grad(set_to_none=True)
    (loss + run.config.l2_sp * pull).backward()
    torch.nn.utils.clip_grad_norm_(run.trained, 1.0)
    run.optimizer.step()
    run.step += 1
    run.tokens_seen += batch.target_tokens + batch.source_tokens
    run.window_loss += loss.item() * batch.target_tokens
    run.window_tokens += batch.target_tokens


def _report_step(run: _TeachRun, epoch: int, rate: float, elapsed: float) -> None:
    done = min(run.step / run.total_steps, 0.999)
    run.emit(StepEvent(epoch=epoch, step=run.step, total_steps=run.total_steps,
                       loss=run.window_loss / max(run.window_tokens, 1), learning_rate=rate,
                       tokens_per_s=run.tokens_seen / max(elapsed, 1e-9), elapsed_s=elapsed,
                       eta_s=elapsed / max(done, 1e-9) * (1 - done)))  # fmt: skip
    run.window_loss, run.window_tokens = 0.0, 0


def _check(run: _TeachRun, guard: Guard, epoch: int, mix: float = 1.0) -> None:
    """The guard measures the model as it is now (and keeps its state if it is the best)."""
    check = guard.check(run.model, run.taught, epoch, mix)
    run.emit(EvalEvent(epoch=epoch, step=run.step, valid_perplexity=check.valid_perplexity,
                       valid_loss=math.log(check.valid_perplexity), improved=check.kept,
                       elapsed_s=time.monotonic() - run.started, mix=mix,
                       taught_loss=check.taught_loss,
                       within_budget=check.within_budget))  # fmt: skip
    run.model.train()


def teach(
    model: Seq2Seq,
    training: Sequence[SavedPair],
    replay_pool: Sequence[Example],
    encode: Callable[[Sequence[Example]], list[EncodedExample]],
    config: FinetuneConfig,
    *,
    device: torch.device,
    guard: Guard | None,
    emit: ProgressCallback,
    stop: Callable[[], bool],
) -> TrainResult:
    """Train `model` in place; leave it holding the state `guard` chose.

    Without a guard nothing is chosen: the model keeps its last state (rerank's backward
    model, which the forgetting guard does not measure)."""
    run = _start_teaching(model, training, replay_pool, encode, config, device, emit, stop)
    initial = {name: t.detach().clone() for name, t in model.state_dict().items()}
    emit(StartEvent(total_steps=run.total_steps, train_examples=len(run.taught) + run.replay_count,
                    valid_examples=len(guard.select_valid) if guard else 0))  # fmt: skip
    choice = guard.choice if guard else Choice()
    epoch, stopped_by = 0, "epochs"
    while epoch < config.epochs and stopped_by == "epochs":
        stopped_by = _teach_epoch(run, epoch) or "epochs"
        if stopped_by == "epochs":
            epoch += 1
            if guard and (epoch % config.eval_every == 0 or epoch == config.epochs):
                _check(run, guard, epoch)
    unchecked = choice.state is None and stopped_by != "cancelled"
    if guard and (stopped_by == "time_budget" or unchecked):
        _check(run, guard, epoch)
    if guard and stopped_by != "cancelled" and config.mixes:
        # Weight-space mixes of the trained and the starting model (WiSE-FT): part of what was
        # learned for less of what was forgotten; the choice weighs them like the epochs.
        trained_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        for mix in config.mixes:
            model.load_state_dict(mixed(initial, trained_state, mix))
            _check(run, guard, epoch, mix)
    return _end_teaching(run, choice, epoch, stopped_by)


def _end_teaching(run: _TeachRun, choice: Choice, epoch: int, stopped_by: str) -> TrainResult:
    model = run.model
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    if choice.state is not None:
        model.load_state_dict(choice.state)
    elapsed = time.monotonic() - run.started
    result = TrainResult(
        best_valid_perplexity=choice.select_perplexity,
        epochs_completed=epoch,
        steps=run.step,
        train_seconds=elapsed,
        tokens_per_second=run.tokens_seen / max(elapsed, 1e-9),
        stopped_by=stopped_by,
        saved=choice.state is not None or (stopped_by != "cancelled" and epoch > 0),
    )
    run.emit(end_event(result, choice.epoch, choice.mix))
    model.eval()
    return result
