"""Fine-tuning settings (no torch import, so command lines build fast)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConfigError
from engine.train_config import TrainConfig


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 6  # upper bound; early stopping on the held-out pairs may end sooner
    learning_rate: float = 5e-4  # a quarter of pre-training's: nudge the model, don't rewrite it
    batch_tokens: int = 1200  # at most; smaller when needed for `min_batches` steps an epoch
    min_batches: int = 8  # a few dozen saved pairs still give several updates per epoch
    max_minutes: float | None = None  # time budget for the training loop
    replay: float = 0.5  # original-corpus examples mixed in per saved training pair
    heldout_percent: int = 10  # share of conversations kept out of training, for evaluation
    original_valid_examples: int = 500  # fixed subset of the original validation split
    patience: int = 2  # evaluations without improvement before stopping early
    comparisons: int = 3  # held-out prompts answered by the old and the new model
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.replay <= 10.0:
            raise ConfigError(f"--replay must be between 0 and 10, not {self.replay}")
        if not 1 <= self.heldout_percent <= 50:
            raise ConfigError("the held-out share must be between 1 and 50 percent")
        if self.original_valid_examples < 1 or self.comparisons < 0:
            raise ConfigError("original_valid_examples must be >= 1 and comparisons >= 0")
        self.train_config()  # validates epochs, learning rate, batch size and time budget

    def train_config(self, total_tokens: int | None = None) -> TrainConfig:
        """`total_tokens` (source + target, all training examples) may shrink the batches."""
        batch_tokens = self.batch_tokens
        if total_tokens is not None:
            batch_tokens = max(64, min(batch_tokens, total_tokens // max(self.min_batches, 1)))
        return TrainConfig(
            epochs=self.epochs,
            batch_tokens=batch_tokens,
            learning_rate=self.learning_rate,
            patience=self.patience,
            max_minutes=self.max_minutes,
            seed=self.seed,
        )
