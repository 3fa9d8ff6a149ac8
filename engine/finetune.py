"""Fine-tuning a trained model on a user's own examples, learning what it was taught without
forgetting how to chat.

The caller hands `SavedPair`s: an example and its kind ("corrected", "liked", "user").
- Every correction is trained on: a user's few corrections are facts to learn, not a test set.
  Liked replies and the user's own turns hold out about a tenth of their conversations (minus
  any that share a prompt with training) to measure generalisation.
- The loss weighs corrections above liked replies above the user's own turns; original-corpus
  examples, drawn afresh every epoch, are replayed beside them, and an L2 pull toward the
  starting weights (L2-SP) holds the rest of the model where it was.
- The state kept is chosen on the original corpus (a validation slice that is not the one
  reported) and on the taught pairs themselves: the one that fits the taught pairs best among
  those within the forgetting budget. Never on held-out corrections, which learning other facts
  cannot improve.
- The new model is written first (a hidden partial directory renamed into place), then measured:
  original-corpus perplexity before and after, taught recall, replies compared. A failure while
  measuring is reported, and never throws the finished model away.
The model it starts from is only ever read.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from engine.batching import EncodedExample, collate, encode_examples, make_batches
from engine.chatbot import BACKWARD_DIR, Chatbot
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.data import Example, backward_examples, normalise
from engine.decoding.config import PRESETS
from engine.errors import ConfigError
from engine.finetune_config import FinetuneConfig
from engine.model import Seq2Seq
from engine.pipeline import load_splits
from engine.tokenizer import PAD_ID
from engine.train import ProgressCallback, TrainResult, evaluate_perplexity
from engine.train_config import cooldown_factor

__all__ = ["FinetuneConfig", "FinetuneResult", "SavedPair", "finetune"]

DEFAULT_REPLAY_CORPUS = "chitchat"
PARTIAL_MARK = ".partial-"  # in the name of the hidden directory a run writes into
# Taught recall is measured as the issue of teaching asks: with the "precise" preset (a rerank
# of sampled candidates with a fixed seed, scored by the backward model that goes along).
RECALL_CONFIG = PRESETS["precise"]
_EVAL_CHUNK = 128  # examples per evaluation call, so a stop request is seen between chunks


@dataclass(frozen=True)
class SavedPair:
    example: Example
    kind: str  # "corrected" | "liked" | "user"


@dataclass
class FinetuneResult:
    status: Literal["succeeded", "cancelled"]
    out_dir: Path | None  # the new model directory (None when cancelled)
    data: dict[str, Any]  # example counts and the replay corpus
    before: dict[str, float | None]  # heldout_perplexity, valid_perplexity (and losses)
    after: dict[str, Any] | None = None  # the same, plus taught_recall
    train: TrainResult | None = None
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    recall: list[dict[str, Any]] = field(default_factory=list)  # per correction checked
    problems: list[str] = field(default_factory=list)  # measurements that failed after saving
    seconds: float = 0.0

    @property
    def forgetting(self) -> float | None:
        """Relative rise of the original corpus's validation perplexity (0.05 = +5%)."""
        before = self.before.get("valid_perplexity")
        after = (self.after or {}).get("valid_perplexity")
        if not before or after is None or not math.isfinite(before + after):
            return None  # not measured, or NaN / inf, which compare false: never a pass
        return after / before - 1.0

    def flagged(self, budget: float) -> bool:
        """The new version may have forgotten general chat (or it could not be measured)."""
        rise = self.forgetting
        return rise is None or rise > budget

    def metrics(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "train": asdict(self.train) if self.train else None,
            "forgetting": self.forgetting,
            "problems": self.problems,
            "seconds": self.seconds,
        }


class _Cancelled(Exception):
    """Raised inside `finetune` when `should_stop` says so between phases."""


def _heldout_order(key: str) -> tuple[int, bytes]:
    digest = hashlib.sha1(f"heldout:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100, digest


def split_heldout(
    examples: Sequence[Example], *, percent: int = 10
) -> tuple[list[Example], list[Example]]:
    """(train, held-out) by conversation, deterministically (a hash of the key).

    A conversation whose hash bucket is under `percent` is held out, so adding conversations
    never moves an old one between the sides. With two or more conversations at least one is
    held out and at least one is trained on.
    """
    keys = sorted({example.conversation for example in examples}, key=_heldout_order)
    held = sum(1 for key in keys if _heldout_order(key)[0] < percent)
    if len(keys) >= 2:
        held = min(max(held, 1), len(keys) - 1)
    heldout_keys = set(keys[:held])
    train_part = [example for example in examples if example.conversation not in heldout_keys]
    heldout = [example for example in examples if example.conversation in heldout_keys]
    return train_part, heldout


def _prompt(example: Example) -> str:
    return normalise(example.context[-1]) if example.context else ""


def dedupe(pairs: Sequence[SavedPair]) -> list[SavedPair]:
    """Each context + response once (the first kept: callers list corrections first)."""
    seen: set[tuple[tuple[str, ...], str]] = set()
    unique = []
    for pair in pairs:
        key = (
            tuple(normalise(turn) for turn in pair.example.context),
            normalise(pair.example.response),
        )
        if key not in seen:
            seen.add(key)
            unique.append(pair)
    return unique


def split_pairs(
    pairs: Sequence[SavedPair], *, percent: int = 10
) -> tuple[list[SavedPair], list[Example]]:
    """(pairs to train on, held-out examples).

    Corrections are all trained on. Liked replies and own turns are split by conversation; a
    held-out example whose prompt is also a training prompt is dropped (it would measure
    memory, not generalisation).
    """
    taught = [pair for pair in pairs if pair.kind == "corrected"]
    others = [pair for pair in pairs if pair.kind != "corrected"]
    kind_of = {id(pair.example): pair for pair in others}
    train_part, heldout = split_heldout([pair.example for pair in others], percent=percent)
    training = [*taught, *(kind_of[id(example)] for example in train_part)]
    prompts = {_prompt(pair.example) for pair in training}
    return training, [example for example in heldout if _prompt(example) not in prompts]


def replay_examples(pool: Sequence[Example], count: int, *, seed: int = 0) -> list[Example]:
    """`count` examples drawn without replacement from `pool`, the same ones for one seed."""
    if count <= 0 or not pool:
        return []
    if count >= len(pool):
        return list(pool)
    return random.Random(seed).sample(list(pool), count)


def partial_dirs(out_dir: str | Path) -> list[Path]:
    """Leftovers of runs that trained towards `out_dir` (and their checkpoint staging dirs)."""
    out = Path(out_dir).absolute()
    if not out.parent.is_dir():
        return []
    prefix = f".{out.name}{PARTIAL_MARK}"
    return sorted(
        path for path in out.parent.iterdir() if path.name.startswith((prefix, "." + prefix))
    )


def discard_partial(out_dir: str | Path) -> None:
    for path in partial_dirs(out_dir):
        shutil.rmtree(path, ignore_errors=True)


def check_paths(base_dir: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Resolved (base, out); refuses an output that is the base model, inside it, or exists."""
    base, out = Path(base_dir).resolve(), Path(out_dir).absolute()
    if out.resolve() == base or base in out.resolve().parents:
        raise ConfigError(
            f"the output directory {out} must differ from the model it starts from ({base}); "
            "fine-tuning never overwrites a model"
        )
    if out.exists():
        raise ConfigError(f"{out} already exists: choose a new output directory")
    return base, out


# Taught recall ---------------------------------------------------------------------------------
_STOPWORD_TEXT = (
    "a an the i im ive id me my mine you youre your yours we our us it its is am are was were be "
    "been being do does did have has had to of in on at for with and or but so that this these "
    "those what whats who how yes no not dont just really very too also there here they them "
    "their he she his her as by from about like well oh ok okay"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"\w+")


def key_words(taught: str, prompt: str = "") -> set[str]:
    """The content words of a taught reply that its prompt does not already hold."""
    words = set(_WORD.findall(normalise(taught)))
    keys = words - _STOPWORDS - set(_WORD.findall(normalise(prompt)))
    return keys or words


def recalled(reply: str, taught: str, prompt: str = "") -> bool:
    """True when every key content word of `taught` appears in `reply`."""
    return key_words(taught, prompt) <= set(_WORD.findall(normalise(reply)))


def taught_recall(
    bot: Chatbot, examples: Sequence[Example], should_stop: Callable[[], bool] | None = None
) -> tuple[float | None, list[dict[str, Any]]]:
    """The share of `examples` whose taught reply `bot` gives (`RECALL_CONFIG`), and the rows."""
    config = RECALL_CONFIG
    rows = []
    for example in examples:
        if should_stop and should_stop():
            raise _Cancelled
        reply = bot.reply(list(example.context), config).text
        prompt = example.context[-1] if example.context else ""
        rows.append(
            {
                "prompt": prompt,
                "taught": example.response,
                "reply": reply,
                "recalled": recalled(reply, example.response, prompt),
            }
        )
    share = sum(row["recalled"] for row in rows) / len(rows) if rows else None
    return share, rows


# Measuring ------------------------------------------------------------------------------------
def _measure(
    model: Seq2Seq,
    encoded: Sequence[EncodedExample],
    device: torch.device,
    should_stop: Callable[[], bool],
) -> dict[str, float] | None:
    """Perplexity like `evaluate_perplexity`, in chunks so that a stop request is honoured."""
    if not encoded:
        return None
    total_nll, total_tokens = 0.0, 0
    for start in range(0, len(encoded), _EVAL_CHUNK):
        if should_stop():
            raise _Cancelled
        part = evaluate_perplexity(model, encoded[start : start + _EVAL_CHUNK], device=device)
        total_nll += part["loss"] * part["tokens"]
        total_tokens += int(part["tokens"])
    mean = total_nll / max(total_tokens, 1)
    return {"perplexity": math.exp(min(mean, 50.0)), "loss": mean, "tokens": total_tokens}


def _figures(
    model: Seq2Seq,
    encoded: Sequence[Sequence[EncodedExample]],
    device: torch.device,
    stop: Callable[[], bool],
) -> dict[str, float | None]:
    """Perplexity on the held-out pairs, the original corpus and the taught pairs."""
    figures: dict[str, float | None] = {}
    for name, part in zip(("heldout", "valid", "taught"), encoded, strict=True):
        measured = _measure(model, part, device, stop)
        figures[f"{name}_perplexity"] = measured["perplexity"] if measured else None
        figures[f"{name}_loss"] = measured["loss"] if measured else None
    return figures


def _compare(
    before: Chatbot,
    after: Chatbot,
    prompts: Sequence[Example],
    should_stop: Callable[[], bool],
) -> list[dict[str, Any]]:
    """Replies of both models with `RECALL_CONFIG` (a fixed seed: the same prompt, the same
    reply)."""
    config = RECALL_CONFIG
    rows = []
    for example in prompts:
        if should_stop():
            raise _Cancelled
        history = list(example.context)
        rows.append(
            {
                "prompt": history,
                "expected": example.response,
                "before": before.reply(history, config).text,
                "after": after.reply(history, config).text,
            }
        )
    return rows


# Training -------------------------------------------------------------------------------------
@dataclass
class _Choice:
    """The state kept: the best fit to the taught pairs among states within the budget."""

    epoch: int = -1
    mix: float = 1.0  # the share of the trained weights (the rest: the starting weights)
    within: bool = False
    select_perplexity: float = math.inf
    taught_loss: float = math.inf
    state: dict[str, torch.Tensor] | None = None

    def better(self, within: bool, select_perplexity: float, taught_loss: float) -> bool:
        if within != self.within:
            return within
        if within:
            return taught_loss < self.taught_loss
        return select_perplexity < self.select_perplexity


def _weighted_loss(
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


def _mixed(
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
        if run.stop():
            return "cancelled"
        if elapsed > run.budget:
            return "time_budget"
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
    loss = _weighted_loss(model, batch, batch_weights, teacher=run.teacher,
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
    run.emit({"event": "step", "epoch": epoch, "step": run.step, "total_steps": run.total_steps,
              "loss": run.window_loss / max(run.window_tokens, 1), "learning_rate": rate,
              "tokens_per_s": run.tokens_seen / max(elapsed, 1e-9), "elapsed_s": elapsed,
              "eta_s": elapsed / max(done, 1e-9) * (1 - done)})  # fmt: skip
    run.window_loss, run.window_tokens = 0.0, 0


def _check(
    run: _TeachRun,
    choice: _Choice,
    select_valid: Sequence[EncodedExample],
    base_select: float,
    epoch: int,
    mix: float = 1.0,
) -> None:
    """Measure the model as it is now; keep its state when it is the best choice so far."""
    model, config = run.model, run.config
    selected = evaluate_perplexity(model, select_valid, device=run.device)["perplexity"]
    taught_loss = evaluate_perplexity(model, run.taught, device=run.device)["loss"]
    within = selected <= base_select * (1 + config.max_forgetting - config.select_margin)
    kept = choice.better(within, selected, taught_loss)
    if kept:
        choice.epoch, choice.mix, choice.within = epoch, mix, within
        choice.select_perplexity, choice.taught_loss = selected, taught_loss
        choice.state = {name: t.detach().clone() for name, t in model.state_dict().items()}
    run.emit({"event": "eval", "epoch": epoch, "mix": mix, "step": run.step,
              "valid_perplexity": selected, "valid_loss": math.log(selected),
              "taught_loss": taught_loss, "within_budget": within, "improved": kept,
              "elapsed_s": time.monotonic() - run.started})  # fmt: skip
    model.train()


def _teach(
    model: Seq2Seq,
    training: Sequence[SavedPair],
    replay_pool: Sequence[Example],
    encode: Callable[[Sequence[Example]], list[EncodedExample]],
    config: FinetuneConfig,
    *,
    device: torch.device,
    select_valid: Sequence[EncodedExample],
    base_select: float,
    emit: ProgressCallback,
    stop: Callable[[], bool],
) -> tuple[TrainResult, _Choice]:
    """Train `model` in place; leave it holding the chosen state.

    Without `select_valid` nothing is chosen: the model keeps its last state (rerank's
    backward model, which the forgetting guard does not measure)."""
    run = _start_teaching(model, training, replay_pool, encode, config, device, emit, stop)
    initial = {name: t.detach().clone() for name, t in model.state_dict().items()}
    emit({"event": "start", "total_steps": run.total_steps, "step": 0,
          "train_examples": len(run.taught) + run.replay_count,
          "valid_examples": len(select_valid)})  # fmt: skip
    choice, epoch, stopped_by = _Choice(), 0, "epochs"
    while epoch < config.epochs and stopped_by == "epochs":
        stopped_by = _teach_epoch(run, epoch) or "epochs"
        if stopped_by == "epochs":
            epoch += 1
            if select_valid and (epoch % config.eval_every == 0 or epoch == config.epochs):
                _check(run, choice, select_valid, base_select, epoch)
    unchecked = choice.state is None and stopped_by != "cancelled"
    if select_valid and (stopped_by == "time_budget" or unchecked):
        _check(run, choice, select_valid, base_select, epoch)
    if select_valid and stopped_by != "cancelled" and config.mixes:
        # Weight-space mixes of the trained and the starting model (WiSE-FT): part of what was
        # learned for less of what was forgotten; the choice weighs them like the epochs.
        trained_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        for mix in config.mixes:
            model.load_state_dict(_mixed(initial, trained_state, mix))
            _check(run, choice, select_valid, base_select, epoch, mix)
    return _end_teaching(run, choice, epoch, stopped_by), choice


def _end_teaching(run: _TeachRun, choice: _Choice, epoch: int, stopped_by: str) -> TrainResult:
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
    run.emit({"event": "end", **asdict(result), "chosen_epoch": choice.epoch,
              "chosen_mix": choice.mix})  # fmt: skip
    model.eval()
    return result


@dataclass
class _Prepared:
    """The pairs to train on and to measure with, chosen and encoded before training."""

    training: list[SavedPair]
    heldout: list[Example]
    taught: list[Example]  # the corrections among `training`
    replay_pool: list[Example]  # the original corpus's training split
    data: dict[str, Any]  # the counts reported
    encode: Callable[[Sequence[Example]], list[EncodedExample]]
    measured: tuple[list[EncodedExample], ...]  # held-out, original validation, taught
    select_valid: list[EncodedExample]  # the slice that chooses the state kept


def _prepare(
    checkpoint: Any,
    pairs: Sequence[SavedPair],
    config: FinetuneConfig,
    replay_corpus: str | None,
    emit: ProgressCallback,
) -> _Prepared:
    model_config = checkpoint.config
    usable = [pair for pair in pairs if pair.example.response.strip() and pair.example.context]
    unique = dedupe(usable)
    training, heldout = split_pairs(unique, percent=config.heldout_percent)
    if not training:
        raise ConfigError("no training examples: every saved pair fell into the held-out set")
    taught = [pair.example for pair in training if pair.kind == "corrected"]
    corpus = replay_corpus or checkpoint.record.get("corpus") or DEFAULT_REPLAY_CORPUS
    emit({"event": "status", "message": f"Reading the original corpus ({corpus})…"})
    splits = load_splits(corpus, context_turns=model_config.context_turns)
    reported = config.original_valid_examples
    original_valid = splits.valid[:reported]
    select_valid = splits.valid[reported : reported + config.select_valid_examples]
    data = {
        "train_pairs": len(training),
        "taught_pairs": len(taught),
        "duplicates_skipped": len(usable) - len(unique),
        "empty_skipped": len(pairs) - len(usable),
        "heldout_pairs": len(heldout),
        "heldout_conversations": len({example.conversation for example in heldout}),
        "replay_examples": round(config.replay * len(training)),
        "replay_corpus": corpus,
        "original_valid_examples": len(original_valid),
    }
    emit({"event": "data", **data})

    def encode(part: Sequence[Example]) -> list[EncodedExample]:
        return encode_examples(part, checkpoint.tokenizer, model_config)

    return _Prepared(
        training=training, heldout=heldout, taught=taught, replay_pool=splits.train, data=data,
        encode=encode, measured=(encode(heldout), encode(original_valid), encode(taught)),
        select_valid=encode(select_valid or original_valid),
    )  # fmt: skip


def finetune(
    *,
    base_dir: str | Path,
    out_dir: str | Path,
    pairs: Sequence[SavedPair],
    config: FinetuneConfig,
    device: torch.device,
    replay_corpus: str | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneResult:
    """Fine-tune the model in `base_dir` on `pairs`; write the result to `out_dir`.

    `replay_corpus` (chitchat | chatterbot | FILE.jsonl) defaults to the corpus the base model
    was trained on, as its training record says. Returns with status "cancelled" (and nothing
    written) when `should_stop` turns true. Raises `EngineError` for bad input.
    """
    started = time.monotonic()
    emit = on_progress or (lambda event: None)
    stop = should_stop or (lambda: False)
    base, out = check_paths(base_dir, out_dir)
    checkpoint = load_checkpoint(base, device=device)
    if (base / BACKWARD_DIR).is_dir():  # it goes along: a damaged one would fail only at the end
        load_checkpoint(base / BACKWARD_DIR)
    prepared = _prepare(checkpoint, pairs, config, replay_corpus, emit)
    result = FinetuneResult(status="cancelled", out_dir=None, data=prepared.data, before={})
    try:
        _train_and_save(checkpoint, prepared, result, base, out, config, device, emit, stop)
        result.status, result.out_dir = "succeeded", out
        prompts_from = prepared.heldout or [pair.example for pair in prepared.training]
        _measure_after(result, base, out, prompts_from, prepared.taught, prepared.measured,
                       config, device, emit, stop)  # fmt: skip
    except _Cancelled:
        result.status, result.out_dir = "cancelled", None
        return result
    finally:
        if result.out_dir is None:
            discard_partial(out)
        result.seconds = time.monotonic() - started
    return result


def _train_and_save(
    checkpoint: Any,
    prepared: _Prepared,
    result: FinetuneResult,
    base: Path,
    out: Path,
    config: FinetuneConfig,
    device: torch.device,
    emit: ProgressCallback,
    stop: Callable[[], bool],
) -> None:
    """Measure the base model, teach it, then write the new model directory atomically."""
    emit({"event": "status", "message": "Measuring the current model…"})
    result.before = _figures(checkpoint.model, prepared.measured, device, stop)
    base_select = _measure(checkpoint.model, prepared.select_valid, device, stop)
    select_perplexity = base_select["perplexity"] if base_select else None
    emit({"event": "baseline", **result.before, "select_perplexity": select_perplexity})
    trained, choice = _teach(
        checkpoint.model, prepared.training, prepared.replay_pool, prepared.encode, config,
        device=device, select_valid=prepared.select_valid,
        base_select=select_perplexity or math.inf, emit=emit, stop=stop,
    )  # fmt: skip
    result.train = trained
    result.data["chosen_epoch"], result.data["chosen_mix"] = choice.epoch, choice.mix
    if trained.stopped_by == "cancelled" or stop():
        raise _Cancelled
    if not trained.saved:
        raise ConfigError("fine-tuning ended before its first evaluation: nothing to save")
    partial = out.parent / f".{out.name}{PARTIAL_MARK}{os.getpid()}"
    record = {
        "corpus": checkpoint.record.get("corpus", result.data["replay_corpus"]),
        "finetune": {"parent": str(base), **result.data, "config": asdict(config)},
    }
    save_checkpoint(
        partial, model=checkpoint.model, tokenizer=checkpoint.tokenizer, record=record,
        weights_dtype=_stored_dtype(base),
    )  # fmt: skip
    _teach_backward(base, partial, prepared, config, device, emit, stop)
    if out.exists():
        raise ConfigError(f"{out} appeared while fine-tuning: the new model was not saved")
    os.rename(partial, out)
    _fsync_dir(out.parent)


def _teach_backward(
    base: Path,
    partial: Path,
    prepared: _Prepared,
    config: FinetuneConfig,
    device: torch.device,
    emit: ProgressCallback,
    stop: Callable[[], bool],
) -> None:
    """Rerank's backward model p(turn | reply) goes along, taught the same pairs reversed.

    Left as it was, it argued taught replies away: after teaching 24 facts the precise preset
    (reranked by it) gave 8 of them where the forward model's beam search gave 18."""
    folder = base / BACKWARD_DIR
    if not folder.is_dir():
        return
    if config.backward_epochs == 0:
        shutil.copytree(folder, partial / BACKWARD_DIR)
        return
    emit({"event": "status", "message": "Teaching the reply ranker the same pairs…"})
    checkpoint = load_checkpoint(folder, device=device)
    reversed_pairs = [
        SavedPair(example=example, kind=pair.kind)
        for pair in prepared.training
        for example in backward_examples([pair.example])
    ]

    def encode(part: Sequence[Example]) -> list[EncodedExample]:
        return encode_examples(part, checkpoint.tokenizer, checkpoint.config)

    def status_only(event: dict[str, Any]) -> None:  # the dialog's progress is the forward run's
        if event.get("event") == "status":
            emit(event)

    trained, _ = _teach(
        checkpoint.model, reversed_pairs, backward_examples(prepared.replay_pool), encode,
        replace(config, epochs=config.backward_epochs), device=device, select_valid=(),
        base_select=math.inf, emit=status_only, stop=stop,
    )  # fmt: skip
    if trained.stopped_by == "cancelled" or stop():
        raise _Cancelled
    record = {
        **checkpoint.record,
        "finetune": {"parent": str(folder), "pairs": len(reversed_pairs),
                     "epochs": trained.epochs_completed, "seconds": trained.train_seconds},
    }  # fmt: skip
    save_checkpoint(
        partial / BACKWARD_DIR, model=checkpoint.model, tokenizer=checkpoint.tokenizer,
        record=record, weights_dtype=_stored_dtype(folder),
    )  # fmt: skip


def _measure_after(
    result: FinetuneResult,
    base: Path,
    out: Path,
    prompts_from: Sequence[Example],
    taught: Sequence[Example],
    measured: Sequence[Sequence[EncodedExample]],
    config: FinetuneConfig,
    device: torch.device,
    emit: ProgressCallback,
    stop: Callable[[], bool],
) -> None:
    """The saved model's figures; a failure here is noted in `result.problems`, never fatal."""
    try:
        emit({"event": "status", "message": "Measuring the new model…"})
        tuned = load_checkpoint(out, device=device)
        result.after = _figures(tuned.model, measured, device, stop)
        emit({"event": "status", "message": "Checking what it learned…"})
        bot = Chatbot(tuned, device)
        bot.load_backward()
        share, result.recall = taught_recall(bot, taught[: config.recall_examples], stop)
        result.after["taught_recall"] = share
        emit({"event": "status", "message": "Comparing replies…"})
        unique = {example.context: example for example in prompts_from}
        result.data["comparisons_from"] = "heldout" if result.data["heldout_pairs"] else "training"
        before = Chatbot(load_checkpoint(base, device=device), device)
        before.load_backward()
        result.comparisons = _compare(
            before,
            bot,
            list(unique.values())[: config.comparisons],
            stop,
        )
    except _Cancelled:
        raise
    except Exception as error:  # the model is saved; say what could not be measured
        result.problems.append(f"measuring the new model failed: {type(error).__name__}: {error}")
        emit({"event": "status", "message": result.problems[-1]})


def _stored_dtype(model_dir: Path) -> torch.dtype:
    """The dtype the base model's weights are stored in (the new version keeps it)."""
    try:
        name = json.loads((model_dir / "config.json").read_text()).get("weights_dtype")
    except (OSError, ValueError):
        name = None
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    return dtype if dtype in (torch.float16, torch.bfloat16) else torch.float32


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
