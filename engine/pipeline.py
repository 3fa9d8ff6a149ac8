"""From a corpus name to a trained model directory: what `main.py train` runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from engine.batching import EncodedExample, encode_examples
from engine.checkpoint import load_checkpoint, load_tokenizer
from engine.config import ModelConfig
from engine.data import Example, backward_examples, read_corpus, split_examples
from engine.errors import ConfigError
from engine.exemplars import ExemplarMix, load_exemplars, with_exemplars, with_marker_row
from engine.model import Seq2Seq
from engine.tokenizer import Tokenizer
from engine.train import ProgressCallback, TrainConfig, TrainResult, train

if TYPE_CHECKING:
    from engine.distributed import ProcessGroup


@dataclass(frozen=True)
class CorpusSplits:
    name: str
    train: list[Example]
    valid: list[Example]
    test: list[Example]

    def get(self, split: str) -> list[Example]:
        if split not in ("train", "valid", "test"):
            raise ConfigError(f"split must be train, valid or test, not {split!r}")
        return getattr(self, split)


def load_splits(corpus: str, *, context_turns: int, direction: str = "forward") -> CorpusSplits:
    """The corpus's examples by split; a backward model reads them turned around (the same
    conversations in the same splits, so its test split is the forward model's)."""
    conversations = read_corpus(corpus)
    splits = split_examples(conversations, context_turns=context_turns)
    if direction == "backward":
        splits = {name: backward_examples(examples) for name, examples in splits.items()}
    return CorpusSplits(corpus, splits["train"], splits["valid"], splits["test"])


def splits_for(corpus: str, config: ModelConfig) -> CorpusSplits:
    return load_splits(corpus, context_turns=config.context_turns, direction=config.direction)


def _train_texts(examples: list[Example]) -> list[str]:
    seen: set[str] = set()
    texts = []
    for text in corpus_texts_of(examples):
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def corpus_texts_of(examples: list[Example]) -> Any:
    for example in examples:
        yield from example.context
        yield example.response


def pretrain(
    *,
    corpus: str,
    out_dir: str | Path,
    model_config: ModelConfig,
    train_config: TrainConfig,
    device: torch.device,
    resume_from: str | Path | None = None,
    init_from: str | Path | None = None,
    tokenizer_from: str | Path | None = None,
    exemplars: str | Path | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    group: ProcessGroup | None = None,
) -> TrainResult:
    """Train a model on `corpus`, saving to `out_dir`.

    A new model gets a new tokenizer; `resume_from` goes on with a saved run (its model,
    optimizer and place in the data); `init_from` starts a fresh run from a saved model's
    weights and tokenizer, in `model_config.direction` (how the backward MMI scorer is made
    from the forward chat model: same pieces, same embedding, far fewer steps to learn);
    `tokenizer_from` starts a new model of any shape on a saved model's pieces, so it can share
    that model's reply index and backward scorer (both are tied to the tokenizer's bytes).
    `exemplars` (a file from `main.py exemplars`) trains a retrieve-and-refine model: each
    example's encoder input ends with a reply people wrote (engine/exemplars.py); a model
    started from one that reads no exemplar gains the marker's embedding row.
    With `group` (under torchrun) every rank calls this alike; rank 0 trains the tokenizer.
    """
    if sum(source is not None for source in (resume_from, init_from, tokenizer_from)) > 1:
        raise ConfigError("use only one of --resume, --init-from and --tokenizer-from")
    refine = exemplars is not None
    if resume_from is not None or init_from is not None:
        if resume_from is not None:
            start = _resumed(resume_from)
        else:
            start = _initialised(init_from, model_config, refine)
        splits = splits_for(corpus, start.model.config)
    else:
        splits = splits_for(corpus, model_config)
        start = _new(splits.train, model_config, train_config, tokenizer_from, refine, group)
    model, tokenizer, model_config = start.model, start.tokenizer, start.model.config
    record = {"corpus": corpus, **start.record}
    if exemplars is not None:
        if not model_config.exemplar:
            raise ConfigError("this model reads no exemplar; start a new run to train one")
        splits = _with_exemplars(splits, exemplars, train_config.seed)
        record["exemplars"] = {"file": str(exemplars), **asdict(ExemplarMix())}
    record.update(
        {
            "train_examples": len(splits.train),
            "valid_examples": len(splits.valid),
            "test_examples": len(splits.test),
        }
    )
    train_data: list[EncodedExample] = encode_examples(splits.train, tokenizer, model_config)
    valid_data = encode_examples(splits.valid, tokenizer, model_config)
    return train(
        model,
        tokenizer,
        train_data,
        valid_data,
        train_config,
        out_dir=out_dir,
        device=device,
        record=record,
        resume=start.resume_state,
        optimizer_state=start.optimizer_state,
        on_progress=on_progress,
        should_stop=should_stop,
        group=group,
    )


@dataclass(frozen=True)
class _Start:
    """Where a training run begins: a model and its pieces, and what the record says of it."""

    model: Seq2Seq
    tokenizer: Tokenizer
    record: dict[str, Any]
    optimizer_state: dict[str, Any] | None = None
    resume_state: dict[str, Any] | None = None


def _resumed(directory: str | Path) -> _Start:
    checkpoint = load_checkpoint(directory, with_optimizer=True)
    kept = {
        key: checkpoint.record[key] for key in ("corpus", "seconds") if key in checkpoint.record
    }
    return _Start(
        checkpoint.model,
        checkpoint.tokenizer,
        {**kept, "resumed_from": str(directory)},
        checkpoint.optimizer_state,
        checkpoint.record.get("trainer"),
    )


def _initialised(directory: str | Path, asked: ModelConfig, refine: bool) -> _Start:
    checkpoint = load_checkpoint(directory)
    config = ModelConfig.from_dict(
        {
            **checkpoint.config.to_dict(),
            "direction": asked.direction,
            "exemplar": checkpoint.config.exemplar or refine,
        }
    )
    # The same shapes (but the exemplar marker's row); the config saved says direction.
    model = Seq2Seq(config)
    model.load_state_dict(with_marker_row(checkpoint.model.state_dict(), config))
    return _Start(model, checkpoint.tokenizer, {"initialised_from": str(directory)})


def _new(
    train: list[Example],
    asked: ModelConfig,
    train_config: TrainConfig,
    tokenizer_from: str | Path | None,
    refine: bool,
    group: ProcessGroup | None,
) -> _Start:
    record: dict[str, Any] = {}
    if tokenizer_from is not None:
        tokenizer = load_tokenizer(tokenizer_from)
        record["tokenizer_from"] = str(tokenizer_from)
    else:
        tokenizer = _new_tokenizer(train, asked, group)
    # SentencePiece may give fewer pieces than asked on a small corpus.
    config = ModelConfig.from_dict(
        {
            **asked.to_dict(),
            "vocab_size": tokenizer.vocab_size,
            "exemplar": asked.exemplar or refine,
        }
    )
    torch.manual_seed(train_config.seed)
    return _Start(Seq2Seq(config), tokenizer, record)


def _with_exemplars(splits: CorpusSplits, path: str | Path, seed: int) -> CorpusSplits:
    found = load_exemplars(path)
    mix = ExemplarMix()
    return replace(
        splits,
        train=with_exemplars(
            splits.train, found.get("train", {}), split="train", mix=mix, seed=seed
        ),
        valid=with_exemplars(splits.valid, found.get("valid", {}), split="valid", mix=mix),
    )


def _new_tokenizer(
    examples: list[Example], config: ModelConfig, group: ProcessGroup | None
) -> Tokenizer:
    def make() -> Tokenizer:
        return Tokenizer.train(
            _train_texts(examples), vocab_size=config.vocab_size, model_type=config.tokenizer_type
        )

    if group is None:
        return make()
    return Tokenizer(group.share_bytes(lambda: make().to_bytes()))
