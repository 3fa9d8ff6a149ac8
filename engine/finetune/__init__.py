"""Fine-tuning a trained model on a user's own examples, learning what it was taught without
forgetting how to chat.

The caller hands `SavedPair`s: an example and its kind (`engine.pairs.PairKind`).
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

The package, by responsibility: `data` (which pairs train, which are held out, the replay
draw), `teach` (the teaching loop), `guard` (the forgetting guard and the state kept),
`recall` (taught recall, replies compared), `output` (the new directory, written atomically),
`result` (what a run returns), `run` (`finetune`, which puts them together).
"""

from __future__ import annotations

from engine.finetune.data import (
    DEFAULT_REPLAY_CORPUS,
    SavedPair,
    dedupe,
    replay_examples,
    split_heldout,
    split_pairs,
)
from engine.finetune.output import PARTIAL_MARK, check_paths, discard_partial, partial_dirs
from engine.finetune.recall import RECALL_CONFIG, key_words, recalled, taught_recall
from engine.finetune.result import FinetuneResult
from engine.finetune.run import finetune
from engine.finetune_config import FinetuneConfig
from engine.progress import FinetuneData

__all__ = [
    "DEFAULT_REPLAY_CORPUS",
    "PARTIAL_MARK",
    "RECALL_CONFIG",
    "FinetuneConfig",
    "FinetuneData",
    "FinetuneResult",
    "SavedPair",
    "check_paths",
    "dedupe",
    "discard_partial",
    "finetune",
    "key_words",
    "partial_dirs",
    "recalled",
    "replay_examples",
    "split_heldout",
    "split_pairs",
    "taught_recall",
]
