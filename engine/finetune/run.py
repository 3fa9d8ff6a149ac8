"""One fine-tune from start to end: check the paths, choose and encode the pairs, measure the
base model, teach it, write the new model (and rerank's backward model, taught the same pairs
reversed) atomically, then measure the new model. See the package's docstring for the why."""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from engine.batching import EncodedExample, encode_examples
from engine.chatbot import BACKWARD_DIR, Chatbot, open_reply_index, shares_shipped_tokenizer
from engine.checkpoint import fsync_path, load_checkpoint, save_checkpoint
from engine.data import Example, backward_examples
from engine.errors import ConfigError, DataError
from engine.exemplars import ReplyFinder, with_found_exemplars
from engine.finetune.data import DEFAULT_REPLAY_CORPUS, SavedPair, dedupe, split_pairs
from engine.finetune.guard import Guard, figures, measure_perplexity
from engine.finetune.output import (
    PARTIAL_MARK,
    check_paths,
    discard_partial,
    stored_dtype,
)
from engine.finetune.recall import compare_replies, taught_recall
from engine.finetune.result import Cancelled, FinetuneResult
from engine.finetune.teach import teach
from engine.finetune_config import FinetuneConfig
from engine.finetune_figures import Figures
from engine.pairs import PairKind, usable
from engine.pipeline import load_splits
from engine.progress import (
    BaselineEvent,
    DataEvent,
    FinetuneData,
    ProgressCallback,
    ProgressEvent,
    StatusEvent,
)
from engine.retrieval import INDEX_FILE
from engine.turn_encoder import TURN_ENCODER_DIR


@dataclass
class _Prepared:
    """The pairs to train on and to measure with, chosen and encoded before training."""

    training: list[SavedPair]
    teach_on: list[SavedPair]  # `training`, each pair once per exemplar for a refine model
    heldout: list[Example]
    taught: list[Example]  # the corrections among `training`
    replay_pool: list[Example]  # the original corpus's training split
    counts: DataEvent  # what it trains on, as reported
    encode: Callable[[Sequence[Example]], list[EncodedExample]]
    measured: tuple[list[EncodedExample], ...]  # held-out, original validation, taught
    select_valid: list[EncodedExample]  # the slice that chooses the state kept


TAUGHT_EXEMPLARS = 4  # a retrieve-and-refine model is taught each pair with this many exemplars


def _prepare(
    checkpoint: Any,
    pairs: Sequence[SavedPair],
    config: FinetuneConfig,
    replay_corpus: str | None,
    emit: ProgressCallback,
) -> _Prepared:
    model_config = checkpoint.config
    usable_pairs = [pair for pair in pairs if usable(pair.example.context, pair.example.response)]
    unique = dedupe(usable_pairs)
    training, heldout = split_pairs(unique, percent=config.heldout_percent)
    if not training:
        raise ConfigError("no training examples: every saved pair fell into the held-out set")
    taught = [pair.example for pair in training if pair.kind == PairKind.CORRECTED]
    corpus = replay_corpus or checkpoint.record.get("corpus") or DEFAULT_REPLAY_CORPUS
    emit(StatusEvent(message=f"Reading the original corpus ({corpus})…"))
    splits = load_splits(corpus, context_turns=model_config.context_turns)
    reported = config.original_valid_examples
    original_valid = splits.valid[:reported]
    select_valid = splits.valid[reported : reported + config.select_valid_examples]
    counts = DataEvent(
        train_pairs=len(training),
        taught_pairs=len(taught),
        duplicates_skipped=len(usable_pairs) - len(unique),
        empty_skipped=len(pairs) - len(usable_pairs),
        heldout_pairs=len(heldout),
        heldout_conversations=len({example.conversation for example in heldout}),
        replay_examples=round(config.replay * len(training)),
        replay_corpus=corpus,
        original_valid_examples=len(original_valid),
    )
    emit(counts)

    finder = _exemplar_finder(checkpoint, emit)

    def encode(part: Sequence[Example]) -> list[EncodedExample]:
        if finder is not None:  # replayed and measured examples read what chat would give
            part = with_found_exemplars(part, finder)
        return encode_examples(part, checkpoint.tokenizer, model_config)

    # A taught pair is taught with each of its first few exemplars: chat gives it the pool's
    # best, which the model taught with one exemplar alone did not answer (tiny model: 1 in 5).
    teach_on = training if finder is None else _with_exemplars_each(training, finder)

    return _Prepared(
        training=training, teach_on=teach_on, heldout=heldout, taught=taught,
        replay_pool=splits.train, counts=counts,
        encode=encode, measured=(encode(heldout), encode(original_valid), encode(taught)),
        select_valid=encode(select_valid or original_valid),
    )  # fmt: skip


def _exemplar_finder(checkpoint: Any, emit: ProgressCallback) -> ReplyFinder | None:
    """For a retrieve-and-refine model, what finds each example's exemplar: taught pairs and
    replayed ones are read with a reply people wrote, as chat reads them, so the model keeps
    using its exemplars; None for a model that reads none (or has no reply index)."""
    if not checkpoint.config.exemplar:
        return None
    try:
        index = open_reply_index(checkpoint.directory, checkpoint.tokenizer)
    except DataError as error:
        emit(StatusEvent(message=f"Teaching without exemplars: {error}"))
        return None
    emit(StatusEvent(message="Reading the reply index for exemplars…"))
    return ReplyFinder(index)


def _with_exemplars_each(pairs: Sequence[SavedPair], finder: ReplyFinder) -> list[SavedPair]:
    found = finder.find([pair.example for pair in pairs])
    return [
        SavedPair(replace(pair.example, exemplar=exemplar), pair.kind)
        for pair, replies in zip(pairs, found)
        for exemplar in replies[:TAUGHT_EXEMPLARS] or ("",)
    ]


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
    data = FinetuneData(prepared.counts)
    result = FinetuneResult(status="cancelled", out_dir=None, data=data, before=Figures())
    try:
        _train_and_save(checkpoint, prepared, result, base, out, config, device, emit, stop)
        result.status, result.out_dir = "succeeded", out
        prompts_from = prepared.heldout or [pair.example for pair in prepared.training]
        _measure_after(result, base, out, prompts_from, prepared.taught, prepared.measured,
                       config, device, emit, stop)  # fmt: skip
    except Cancelled:
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
    emit(StatusEvent(message="Measuring the current model…"))
    result.before = figures(checkpoint.model, prepared.measured, device, stop)
    base_select = measure_perplexity(checkpoint.model, prepared.select_valid, device, stop)
    select_perplexity = base_select.perplexity if base_select else None
    emit(BaselineEvent(figures=result.before, select_perplexity=select_perplexity))
    guard = Guard(
        prepared.select_valid, select_perplexity or math.inf,
        config.max_forgetting - config.select_margin, device,
    )  # fmt: skip
    trained = teach(
        checkpoint.model, prepared.teach_on, prepared.replay_pool, prepared.encode, config,
        device=device, guard=guard, emit=emit, stop=stop,
    )  # fmt: skip
    choice = guard.choice
    result.train = trained
    result.data = replace(result.data, chosen_epoch=choice.epoch, chosen_mix=choice.mix)
    if trained.stopped_by == "cancelled" or stop():
        raise Cancelled
    if not trained.saved:
        raise ConfigError("fine-tuning ended before its first evaluation: nothing to save")
    partial = out.parent / f".{out.name}{PARTIAL_MARK}{os.getpid()}"
    record = {
        "corpus": checkpoint.record.get("corpus", result.data.counts.replay_corpus),
        "finetune": {"parent": str(base), **result.data.stored(), "config": asdict(config)},
    }
    save_checkpoint(
        partial, model=checkpoint.model, tokenizer=checkpoint.tokenizer, record=record,
        weights_dtype=stored_dtype(base),
    )  # fmt: skip
    _teach_backward(base, partial, prepared, config, device, emit, stop)
    _keep_reply_index(base, partial, checkpoint.tokenizer)
    if out.exists():
        raise ConfigError(f"{out} appeared while fine-tuning: the new model was not saved")
    os.rename(partial, out)
    fsync_path(out.parent)


def _keep_reply_index(base: Path, partial: Path, tokenizer: Any) -> None:
    """The base model's own reply index goes along (hard-linked where the disk allows), so the
    new model's pool and exemplars are the ones it was taught with, and so does the turn
    encoder beside it (the memory's gate and similar turns read it; it has its own tokenizer,
    which fine-tuning keeps anyway). A model the shipped index serves (the shipped model's
    versions) needs no copy of either: the shipped turn encoder is found beside that index."""
    own = base / INDEX_FILE
    if not own.is_file() or shares_shipped_tokenizer(tokenizer):
        return
    _link_or_copy(own, partial / INDEX_FILE)
    encoder = base / TURN_ENCODER_DIR
    if encoder.is_dir():
        shutil.copytree(encoder, partial / TURN_ENCODER_DIR, copy_function=_link_or_copy)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    """A file the new model shares unchanged with its base: hard-linked, or copied where the
    disk cannot (another disk, a file system without hard links)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


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
    emit(StatusEvent(message="Teaching the reply ranker the same pairs…"))
    checkpoint = load_checkpoint(folder, device=device)
    reversed_pairs = [
        SavedPair(example=example, kind=pair.kind)
        for pair in prepared.training
        for example in backward_examples([pair.example])
    ]

    def encode(part: Sequence[Example]) -> list[EncodedExample]:
        return encode_examples(part, checkpoint.tokenizer, checkpoint.config)

    def status_only(event: ProgressEvent) -> None:  # the dialog's progress is the forward run's
        if isinstance(event, StatusEvent):
            emit(event)

    trained = teach(
        checkpoint.model, reversed_pairs, backward_examples(prepared.replay_pool), encode,
        replace(config, epochs=config.backward_epochs), device=device, guard=None,
        emit=status_only, stop=stop,
    )  # fmt: skip
    if trained.stopped_by == "cancelled" or stop():
        raise Cancelled
    record = {
        **checkpoint.record,
        "finetune": {"parent": str(folder), "pairs": len(reversed_pairs),
                     "epochs": trained.epochs_completed, "seconds": trained.train_seconds},
    }  # fmt: skip
    save_checkpoint(
        partial / BACKWARD_DIR, model=checkpoint.model, tokenizer=checkpoint.tokenizer,
        record=record, weights_dtype=stored_dtype(folder),
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
        emit(StatusEvent(message="Measuring the new model…"))
        tuned = load_checkpoint(out, device=device)
        after = figures(tuned.model, measured, device, stop)
        result.after = after
        emit(StatusEvent(message="Checking what it learned…"))
        bot = Chatbot(tuned, device)
        bot.load_backward()
        bot.load_index()  # a retrieve-and-refine model reads what chat gives it
        share, result.recall = taught_recall(bot, taught[: config.recall_examples], stop)
        result.after = replace(after, taught_recall=share)
        emit(StatusEvent(message="Comparing replies…"))
        unique = {example.context: example for example in prompts_from}
        heldout = result.data.counts.heldout_pairs > 0
        result.data = replace(result.data, comparisons_from="heldout" if heldout else "training")
        before = Chatbot(load_checkpoint(base, device=device), device)
        before.load_backward()
        before.load_index()
        result.comparisons = compare_replies(
            before,
            bot,
            list(unique.values())[: config.comparisons],
            stop,
        )
    except Cancelled:
        raise
    except Exception as error:  # the model is saved; say what could not be measured
        result.problems.append(f"measuring the new model failed: {type(error).__name__}: {error}")
        emit(StatusEvent(message=result.problems[-1]))
