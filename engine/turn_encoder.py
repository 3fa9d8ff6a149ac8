"""Turn vectors: how near two chat turns are in meaning, so the pool can find replies people
wrote to turns *like* yours when no turn shares your words ("I burned the toast this
morning" -> "I burnt my dinner" -> "oh no! what were you making?").

The reply index's word search finds replies to turns that share your rarer words, and its
idf cosine says how near such a turn is. Meaning needs a sentence encoder, and a good one
(all-MiniLM-L6-v2, 22M parameters) is too slow to encode the index's 97,000 turns when a model
loads and too large a dependency for the app. So a small one is distilled from it (`main.py
turn-encoder`, which needs the `[eval]` extra): a bag of the chat model's pieces and of hashed
piece bigrams, then a residual feed-forward layer, trained to give MiniLM's vector of each
training turn (the idea of Model2Vec and of the word-averaging encoders of Wieting et al.
2016). At chat time only its weights and torch are needed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from engine.checkpoint import require_format
from engine.errors import CheckpointError
from engine.strict_json import strict_dumps
from engine.tokenizer import Tokenizer

FORMAT = "seq2seq-chat-turn-encoder"
FORMAT_VERSION = 1
TURN_ENCODER_DIR = "turn_encoder"  # beside the reply index it serves
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.model"  # its own copy: the folder serves any chat model
MAX_PIECES = 48  # a turn's first pieces say what it is about
ENCODE_BATCH = 4096
# Two odd multipliers spread (first, second) piece pairs over the buckets.
_HASH_FIRST, _HASH_SECOND = 1_000_003, 8_191


@dataclass(frozen=True)
class TurnEncoderConfig:
    vocab_size: int
    buckets: int = 16_384  # hashed piece bigrams ("not good" is not "good")
    dim: int = 256
    out_dim: int = 384  # the teacher's (all-MiniLM-L6-v2)
    dropout: float = 0.1  # of the bag, while training

    def __post_init__(self) -> None:
        sizes = (self.vocab_size, self.buckets, self.dim, self.out_dim)
        if any(not isinstance(size, int) or size < 1 for size in sizes):
            raise CheckpointError(f"turn encoder config out of range: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise CheckpointError(f"turn encoder dropout out of range: {self.dropout}")


class TurnEncoder(nn.Module):
    def __init__(self, config: TurnEncoderConfig) -> None:
        super().__init__()
        self.config = config
        # Bags sum without building a (turns, pieces, dim) tensor: the index's 97,000 turns
        # encode in seconds.
        self.pieces = nn.EmbeddingBag(config.vocab_size, config.dim, mode="sum", padding_idx=0)
        self.bigrams = nn.EmbeddingBag(config.buckets + 1, config.dim, mode="sum", padding_idx=0)
        self.dropout = nn.Dropout(config.dropout)
        self.norm = nn.LayerNorm(config.dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.dim, 2 * config.dim), nn.GELU(), nn.Linear(2 * config.dim, config.dim)
        )
        self.out = nn.Linear(config.dim, config.out_dim)

    def _bag(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch, length) piece ids, 0-padded -> (batch, dim): the mean of the pieces' and
        the bigrams' vectors."""
        if ids.shape[1] < 2:  # one piece ("hello"): a pad keeps one (empty) bigram column
            ids = F.pad(ids, (0, 2 - ids.shape[1]))
        mask = ids.ne(0)
        pair_mask = mask[:, 1:]
        buckets = (ids[:, :-1] * _HASH_FIRST + ids[:, 1:] * _HASH_SECOND) % self.config.buckets
        buckets = (buckets + 1).masked_fill(~pair_mask, 0)
        total = self.pieces(ids) + self.bigrams(buckets)
        count = (mask.sum(1) + pair_mask.sum(1)).clamp(min=1).unsqueeze(1)
        return total / count

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Unit vectors of the turns in `ids`."""
        bag = self.dropout(self._bag(ids))
        hidden = bag + self.feed_forward(self.norm(bag))
        return F.normalize(self.out(hidden), dim=-1)


def piece_batch(tokenizer: Tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """The texts' pieces, cut at `MAX_PIECES`, 0-padded (piece 0 is padding in every model
    this app trains; an empty text is one pad, whose vector is the encoder's bias)."""
    encoded = [ids[:MAX_PIECES] or [0] for ids in map(tokenizer.encode, texts)]
    width = max((len(ids) for ids in encoded), default=1)
    batch = torch.zeros(len(encoded), width, dtype=torch.long)
    for row, ids in enumerate(encoded):
        batch[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
    return batch


@torch.inference_mode()
def encode_turns(encoder: TurnEncoder, tokenizer: Tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """(len(texts), out_dim) unit vectors, `ENCODE_BATCH` turns at a time."""
    encoder.eval()
    parts = [
        encoder(piece_batch(tokenizer, texts[start : start + ENCODE_BATCH]))
        for start in range(0, len(texts), ENCODE_BATCH)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, encoder.config.out_dim)


@dataclass(frozen=True)
class LoadedTurnEncoder:
    encoder: TurnEncoder
    tokenizer: Tokenizer  # the pieces it was trained on

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return encode_turns(self.encoder, self.tokenizer, texts)

    def nearness(self, turn: str, others: Sequence[str]) -> list[float]:
        """How near in meaning each of `others` is to `turn`: their cosine, floored at 0."""
        vectors = self.encode([turn, *others])
        return (vectors[1:] @ vectors[0]).clamp(min=0.0).tolist()


def save_turn_encoder(
    encoder: TurnEncoder,
    tokenizer: Tokenizer,
    folder: str | Path,
    *,
    training: dict[str, object],
) -> None:
    """The weights in float16 (half the size) and the tokenizer it reads, written beside
    `folder` and renamed into place, so a crash leaves the old folder or the new one."""
    folder = Path(folder)
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _write_folder(encoder, tokenizer, staging, training)
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _write_folder(
    encoder: TurnEncoder, tokenizer: Tokenizer, folder: Path, training: dict[str, object]
) -> None:
    (folder / TOKENIZER_FILE).write_bytes(tokenizer.to_bytes())
    weights = {
        name: tensor.detach().to(torch.float16).contiguous()
        for name, tensor in encoder.state_dict().items()
    }
    save_file(weights, str(folder / WEIGHTS_FILE))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "encoder": asdict(encoder.config),
        "training": training,
    }
    # A figure that could not be measured (NaN) is null: strict JSON.
    (folder / CONFIG_FILE).write_text(strict_dumps(config, indent=2) + "\n", encoding="utf-8")


def load_turn_encoder(folder: str | Path) -> LoadedTurnEncoder:
    """The encoder saved in `folder`; CheckpointError says why it cannot be read."""
    folder = Path(folder)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{folder} has no readable turn encoder ({error})") from None
    config = require_format(
        config, folder / CONFIG_FILE, name=FORMAT, version=FORMAT_VERSION,
        what="turn encoder config",
    )  # fmt: skip
    try:
        encoder = TurnEncoder(TurnEncoderConfig(**config["encoder"]))
        state = load_file(str(folder / WEIGHTS_FILE))
        encoder.load_state_dict({name: tensor.float() for name, tensor in state.items()})
        tokenizer = Tokenizer.load(folder / TOKENIZER_FILE)
    except (OSError, KeyError, TypeError, RuntimeError, ValueError, SafetensorError) as error:
        raise CheckpointError(f"the turn encoder in {folder} cannot be read ({error})") from None
    if tokenizer.vocab_size != encoder.config.vocab_size:
        raise CheckpointError(f"the turn encoder in {folder} was saved with another tokenizer")
    return LoadedTurnEncoder(encoder.eval(), tokenizer)
