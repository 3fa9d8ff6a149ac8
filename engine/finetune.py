"""Fine-tuning a trained model on a user's own examples without forgetting how to chat.

The caller hands plain `Example`s (their `conversation` keys decide the held-out split). This
module holds out about a tenth of the conversations, mixes in a deterministic share of the
original corpus ("replay"), measures before and after, and trains with the same `train()` as
pre-training. Training writes into a hidden partial directory beside the target, which is
renamed into place only when everything succeeded; on cancel or failure it is deleted. The
model it starts from is only ever read.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from engine.batching import EncodedExample, encode_examples
from engine.chatbot import Chatbot
from engine.checkpoint import OPTIMIZER_FILE, load_checkpoint
from engine.data import Example
from engine.decoding.config import DecodeConfig
from engine.errors import ConfigError
from engine.finetune_config import FinetuneConfig
from engine.model import Seq2Seq
from engine.pipeline import load_splits
from engine.train import ProgressCallback, TrainResult, evaluate_perplexity, train

DEFAULT_REPLAY_CORPUS = "chitchat"
PARTIAL_MARK = ".partial-"  # in the name of the hidden directory a run trains into
_EVAL_CHUNK = 128  # examples per evaluation call, so a stop request is seen between chunks


@dataclass
class FinetuneResult:
    status: Literal["succeeded", "cancelled"]
    out_dir: Path | None  # the new model directory (None when cancelled)
    data: dict[str, Any]  # example counts and the replay corpus
    before: dict[str, float | None]  # heldout_perplexity, valid_perplexity (and losses)
    after: dict[str, float | None] | None = None
    train: TrainResult | None = None
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def metrics(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "train": asdict(self.train) if self.train else None,
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


def replay_examples(pool: Sequence[Example], count: int, *, seed: int = 0) -> list[Example]:
    """`count` examples drawn without replacement from `pool`, the same ones every run."""
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


def _figures(heldout: dict[str, float] | None, original: dict[str, float] | None) -> dict:
    return {
        "heldout_perplexity": heldout["perplexity"] if heldout else None,
        "heldout_loss": heldout["loss"] if heldout else None,
        "valid_perplexity": original["perplexity"] if original else None,
        "valid_loss": original["loss"] if original else None,
    }


def _compare(
    before: Chatbot,
    after: Chatbot,
    prompts: Sequence[Example],
    should_stop: Callable[[], bool],
) -> list[dict[str, Any]]:
    """Greedy replies of both models (greedy: the same prompt always gives the same reply)."""
    config = DecodeConfig(strategy="greedy", repetition_penalty=1.0, seed=0)
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


def finetune(
    *,
    base_dir: str | Path,
    out_dir: str | Path,
    examples: Sequence[Example],
    config: FinetuneConfig,
    device: torch.device,
    replay_corpus: str | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneResult:
    """Fine-tune the model in `base_dir` on `examples`; write the result to `out_dir`.

    `replay_corpus` (chitchat | chatterbot | FILE.jsonl) defaults to the corpus the base model
    was trained on, as its training record says. Returns with status "cancelled" (and nothing
    written) when `should_stop` turns true. Raises `EngineError` for bad input.
    """
    started = time.monotonic()
    emit = on_progress or (lambda event: None)
    stop = should_stop or (lambda: False)
    base, out = check_paths(base_dir, out_dir)
    checkpoint = load_checkpoint(base, device=device)
    model_config = checkpoint.config
    train_pairs, heldout = split_heldout(examples, percent=config.heldout_percent)
    if not train_pairs:
        raise ConfigError("no training examples: every saved pair fell into the held-out set")
    corpus = replay_corpus or checkpoint.record.get("corpus") or DEFAULT_REPLAY_CORPUS
    emit({"event": "status", "message": f"Reading the original corpus ({corpus})…"})
    splits = load_splits(corpus, context_turns=model_config.context_turns)
    replay = replay_examples(
        splits.train, round(config.replay * len(train_pairs)), seed=config.seed
    )
    original_valid = splits.valid[: config.original_valid_examples]
    data = {
        "train_pairs": len(train_pairs),
        "heldout_pairs": len(heldout),
        "heldout_conversations": len({example.conversation for example in heldout}),
        "replay_examples": len(replay),
        "replay_corpus": corpus,
        "original_valid_examples": len(original_valid),
    }
    emit({"event": "data", **data})

    def encode(part: Sequence[Example]) -> list[EncodedExample]:
        return encode_examples(part, checkpoint.tokenizer, model_config)

    encoded_heldout, encoded_original = encode(heldout), encode(original_valid)
    result = FinetuneResult(status="cancelled", out_dir=None, data=data, before={})
    partial = out.parent / f".{out.name}{PARTIAL_MARK}{os.getpid()}"
    try:
        emit({"event": "status", "message": "Measuring the current model…"})
        result.before = _figures(
            _measure(checkpoint.model, encoded_heldout, device, stop),
            _measure(checkpoint.model, encoded_original, device, stop),
        )
        emit({"event": "baseline", **result.before})
        record = {
            "corpus": checkpoint.record.get("corpus", corpus),
            "finetune": {"parent": str(base), **data, "config": asdict(config)},
        }
        train_data = encode([*train_pairs, *replay])
        total_tokens = sum(len(source) + len(target) for source, target in train_data)
        # Early stopping and the best-model choice follow the held-out saved pairs: they are
        # what the user wants better. Forgetting is held back by replay and the low rate.
        trained = train(
            checkpoint.model,
            checkpoint.tokenizer,
            train_data,
            encoded_heldout or encoded_original,
            config.train_config(total_tokens),
            out_dir=partial,
            device=device,
            record=record,
            on_progress=emit,
            should_stop=stop,
        )
        result.train = trained
        if trained.stopped_by == "cancelled" or stop():
            raise _Cancelled
        if not trained.saved:
            raise ConfigError("fine-tuning ended before its first evaluation: nothing to save")
        emit({"event": "status", "message": "Measuring the new model…"})
        tuned = load_checkpoint(partial, device=device)
        result.after = _figures(
            _measure(tuned.model, encoded_heldout, device, stop),
            _measure(tuned.model, encoded_original, device, stop),
        )
        emit({"event": "status", "message": "Comparing replies…"})
        unique = {example.context: example for example in heldout or train_pairs}
        prompts = list(unique.values())[: config.comparisons]
        data["comparisons_from"] = "heldout" if heldout else "training"
        result.comparisons = _compare(
            Chatbot(load_checkpoint(base, device=device), device),
            Chatbot(tuned, device),
            prompts,
            stop,
        )
        # A model version is for chatting; the optimizer state (twice the weights) is not kept.
        (partial / OPTIMIZER_FILE).unlink(missing_ok=True)
        if stop():
            raise _Cancelled
        if out.exists():
            raise ConfigError(f"{out} appeared while fine-tuning: the new model was not saved")
        os.rename(partial, out)
        _fsync_dir(out.parent)
        result.status, result.out_dir = "succeeded", out
    except _Cancelled:
        result.status, result.out_dir = "cancelled", None
        return result
    finally:
        if result.out_dir is None:
            discard_partial(out)
        result.seconds = time.monotonic() - started
    return result


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
