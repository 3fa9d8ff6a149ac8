"""Fine-tuning settings (no torch import, so command lines build fast).

The defaults were measured with `bench/finetune.py --teach 24` on the shipped model: every
saved correction is trained on, the original corpus is replayed (fresh examples each epoch) and
the weights are pulled toward where they started (L2-SP), so that the taught facts are learned
while the original corpus's perplexity rises by no more than the guard allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConfigError
from engine.knobs import Knob
from engine.pairs import PairKind

MAX_SEED = 2**63 - 1

# The settings a person may give a run (`main.py finetune`'s options, the Fine-tune dialog's
# spin boxes), each range declared once: `FinetuneConfig` checks its fields with it, and
# `chatapp/finetune/request.py` builds the command line and the dialog from it.
KNOBS: dict[str, Knob] = {
    "replay": Knob(0.0, 32.0, "examples from the original corpus mixed in per saved pair (new "
                   "ones every epoch), so the model keeps its general chat while it learns "
                   "yours", step=1.0, decimals=1),
    "epochs": Knob(1, 1000, "passes over the saved pairs", integer=True),
    "max_minutes": Knob(0.0, 10_000.0, "time budget for training, in minutes", low_open=True,
                        optional=True, step=1.0, decimals=1),
    "learning_rate": Knob(1e-6, 1.0, "AdamW learning rate", step=1e-4, decimals=6, flag="--lr"),
    "batch_tokens": Knob(16, 1_000_000, "most tokens in a batch", integer=True, step=100),
    "l2_sp": Knob(0.0, 1.0, "pull toward the starting weights, L2-SP", step=1e-4, decimals=6),
    "max_forgetting": Knob(0.0, 0.99, "a rise of the original corpus's perplexity above this "
                           "share flags the new version, which is then not used without "
                           "asking", low_open=True, step=0.01, decimals=3),
    "seed": Knob(0, MAX_SEED, "seed of the replayed examples and the shuffling", integer=True),
}  # fmt: skip

# Loss weight of each kind of saved pair (replayed corpus examples weigh 1): a correction is
# what the user said the reply must be; a liked reply only one they accepted; their own turns
# teach the model to talk like them.
KIND_WEIGHTS = {PairKind.CORRECTED: 3.0, PairKind.LIKED: 1.0, PairKind.USER: 0.5}


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 40  # passes over the saved pairs (each with freshly drawn replay)
    # Passes for rerank's backward model over the same pairs reversed (0: it is copied as it
    # was, and reranking may then argue a taught reply away).
    backward_epochs: int = 20
    learning_rate: float = 1e-3  # AdamW; falls linearly to 0 over the last `cooldown` share
    cooldown: float = 0.5
    batch_tokens: int = 1200  # at most; smaller when needed for `min_batches` steps an epoch
    min_batches: int = 4  # a handful of saved pairs still gives several updates per epoch
    max_minutes: float | None = None  # time budget for the training loop
    replay: float = 8.0  # original-corpus examples mixed in per saved training pair, per epoch
    l2_sp: float = 3e-4  # pull toward the starting weights: l2_sp * sum((w - w0) ** 2)
    distill: float = 1.0  # share of the replayed rows' loss that is KL to the starting model
    encoder_rate: float = 1.0  # learning-rate multiplier of the embedding and encoder (0: frozen)
    weight_corrected: float = KIND_WEIGHTS[PairKind.CORRECTED]
    weight_liked: float = KIND_WEIGHTS[PairKind.LIKED]
    weight_user: float = KIND_WEIGHTS[PairKind.USER]
    heldout_percent: int = 10  # share of liked / own-turn conversations kept out, for evaluation
    original_valid_examples: int = 500  # fixed subset of the original validation split (reported)
    select_valid_examples: int = 300  # another subset, used to choose the state that is kept
    eval_every: int = 10  # epochs between the checks that choose the state kept
    # After training, these mixes of the trained and the starting weights are checked too.
    mixes: tuple[float, ...] = (0.85, 0.7, 0.55, 0.4)
    max_forgetting: float = 0.03  # allowed rise of the original corpus's perplexity (the guard)
    # A state is kept as within the guard when its rise on the choosing slice is this much
    # under `max_forgetting` (the slice reported is another, and the two differ by ~1 point).
    select_margin: float = 0.01
    recall_examples: int = 200  # corrections decoded to measure taught recall (at most)
    comparisons: int = 3  # prompts answered by the old and the new model
    seed: int = 0

    def __post_init__(self) -> None:
        for name, knob in KNOBS.items():
            refusal = knob.refusal(name, getattr(self, name))
            if refusal:
                raise ConfigError(refusal)
        if self.min_batches < 1:
            raise ConfigError("min_batches must be >= 1")
        if not 0 <= self.backward_epochs <= 1000:
            raise ConfigError(
                f"backward_epochs must be between 0 and 1000, not {self.backward_epochs}"
            )
        if not all(
            0.0 <= value <= 1.0 for value in (self.cooldown, self.encoder_rate, self.distill)
        ):
            raise ConfigError("cooldown, encoder_rate and distill must be between 0 and 1")
        if min(self.weight_corrected, self.weight_liked, self.weight_user) <= 0:
            raise ConfigError("the weights of the kinds of saved pairs must be positive")
        if not 1 <= self.heldout_percent <= 50:
            raise ConfigError("the held-out share must be between 1 and 50 percent")
        if self.original_valid_examples < 1 or self.select_valid_examples < 1:
            raise ConfigError("original_valid_examples and select_valid_examples must be >= 1")
        if self.eval_every < 1 or self.comparisons < 0 or self.recall_examples < 0:
            raise ConfigError("eval_every must be >= 1, comparisons and recall_examples >= 0")
        if not 0.0 <= self.select_margin < 1.0:
            raise ConfigError("select_margin must be between 0 and 1")
        if not all(0.0 < mix < 1.0 for mix in self.mixes):
            raise ConfigError("the weight mixes must be between 0 and 1")

    def weight_of(self, kind: PairKind) -> float:
        return {
            PairKind.CORRECTED: self.weight_corrected,
            PairKind.LIKED: self.weight_liked,
            PairKind.USER: self.weight_user,
        }[kind]

    def batch_tokens_for(self, total_tokens: int) -> int:
        """`total_tokens` (source + target, one epoch's examples) may shrink the batches."""
        return max(64, min(self.batch_tokens, total_tokens // self.min_batches))
