"""Training settings: one frozen dataclass (no torch import, so command lines build fast)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10  # upper bound; early stopping or the time budget may end sooner
    batch_tokens: int = 6000  # padded source + target tokens per batch
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    label_smoothing: float = 0.0
    patience: int = 3  # evaluations without improvement before stopping early
    eval_every: int = 0  # steps between evaluations; 0 = once per epoch
    max_minutes: float | None = None  # time budget for the whole run (this run, not resumed ones)
    max_valid_examples: int = 4000  # validation subset size (fixed, so figures compare)
    seed: int = 0
    weights_dtype: str = "float32"  # dtype of the saved weights
    stepwise_decoder: bool = False  # the slow tutorial loop, for the baseline row only
    # Share of the run, by time budget or by steps (whichever ends first), over which the
    # learning rate falls linearly to zero. A short cool-down at the end of a fixed budget
    # settles the weights into a lower loss than a constant rate ever reaches.
    lr_cooldown: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_tokens < 16:
            raise ConfigError("epochs must be >= 1 and batch_tokens >= 16")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning rate must be positive, not {self.learning_rate}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("label smoothing must be in [0, 1)")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError("--max-minutes must be positive")
        if not 0.0 <= self.lr_cooldown <= 1.0:
            raise ConfigError(f"--lr-cooldown must be in [0, 1], not {self.lr_cooldown}")


def cooldown_factor(progress: float, cooldown: float) -> float:
    """The learning-rate multiplier at `progress` (0 = start, 1 = end of the run).

    1.0 until the cool-down starts, then a straight line down to 0.0 at the end.
    """
    if cooldown <= 0.0:
        return 1.0
    remaining = 1.0 - min(max(progress, 0.0), 1.0)
    return min(1.0, remaining / cooldown)
