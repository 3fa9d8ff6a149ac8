"""The dialogue model: a bidirectional GRU encoder and a GRU decoder with Luong attention.

Attention is applied to the decoder GRU's *output* (Luong et al. 2015, without input feeding), so
a teacher-forced batch runs the decoder GRU over the whole target in one call; decoding runs the
same layers one step at a time through `step()`. Shapes: B batch, S source length, T target
length, E embedding size, H hidden size, L layers, V vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from engine.config import ModelConfig
from engine.tokenizer import PAD_ID


class Memory(NamedTuple):
    """What the decoder attends to, computed once per encode."""

    outputs: torch.Tensor  # (B, S, H) encoder outputs (the attention values)
    keys: torch.Tensor  # (B, S, H) outputs projected for the score function
    pad_mask: torch.Tensor  # (B, S) True at padding

    def index_select(self, index: torch.Tensor) -> Memory:
        """Reorder or repeat along the batch (beam search folds beams into the batch)."""
        return Memory(*(tensor.index_select(0, index) for tensor in self))


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        self.embedding = embedding
        self.dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(
            config.embedding_dim,
            config.hidden_size // 2,
            num_layers=config.num_layers,
            bidirectional=True,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.bridge = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch, length = src.shape
        embedded = self.dropout(self.embedding(src))  # (B, S, E)
        packed = pack_padded_sequence(
            embedded, src_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        packed_out, final = self.gru(packed)  # final: (L * 2, B, H/2)
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=length)
        layers = final.view(self.gru.num_layers, 2, batch, -1)  # (L, 2, B, H/2)
        final = torch.cat([layers[:, 0], layers[:, 1]], dim=-1)  # (L, B, H)
        return outputs, torch.tanh(self.bridge(final))


class LuongAttention(nn.Module):
    """Global attention with a dot, general or concat score, masked over padding."""

    def __init__(self, kind: str, hidden_size: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "general":
            self.key_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        elif kind == "concat":
            self.key_proj = nn.Linear(hidden_size, hidden_size, bias=False)
            self.query_proj = nn.Linear(hidden_size, hidden_size)
            self.v = nn.Linear(hidden_size, 1, bias=False)

    def keys(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs if self.kind == "dot" else self.key_proj(outputs)

    def forward(self, query: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, H) -> context (B, T, H), weights (B, T, S)."""
        if self.kind == "concat":
            mixed = torch.tanh(self.query_proj(query).unsqueeze(2) + memory.keys.unsqueeze(1))
            scores = self.v(mixed).squeeze(-1)  # (B, T, S)
        else:
            scores = query @ memory.keys.transpose(1, 2)  # (B, T, S)
        scores = scores.masked_fill(memory.pad_mask.unsqueeze(1), torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)  # (B, T, S)
        return weights @ memory.outputs, weights  # (B, T, H), (B, T, S)


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        self.embedding = embedding
        self.dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.attention = LuongAttention(config.attention, config.hidden_size)
        self.combine = nn.Linear(2 * config.hidden_size, config.embedding_dim)
        self.out = (
            None if config.tie_embeddings else nn.Linear(config.embedding_dim, config.vocab_size)
        )

    def forward(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (B, T) -> logits (B, T, V), hidden (L, B, H), attention (B, T, S)."""
        embedded = self.dropout(self.embedding(tokens))  # (B, T, E)
        outputs, hidden = self.gru(embedded, hidden)  # (B, T, H)
        context, weights = self.attention(outputs, memory)  # (B, T, H), (B, T, S)
        combined = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))  # (B, T, E)
        combined = self.dropout(combined)
        if self.out is None:
            logits = combined @ self.embedding.weight.t()  # (B, T, V)
        else:
            logits = self.out(combined)
        return logits, hidden, weights


class Seq2Seq(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=PAD_ID)
        # A small init keeps the tied output layer's first logits near uniform.
        nn.init.normal_(self.embedding.weight, std=config.embedding_dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        self.encoder = Encoder(config, self.embedding)
        self.decoder = Decoder(config, self.embedding)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        """src (B, S) padded ids -> memory and the decoder's first hidden state (L, B, H)."""
        outputs, hidden = self.encoder(src, src_lengths)
        memory = Memory(outputs, self.decoder.attention.keys(outputs), src.eq(PAD_ID))
        return memory, hidden

    def forward(
        self, src: torch.Tensor, src_lengths: torch.Tensor, target_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: target_in (B, T) starts with bos -> logits (B, T, V)."""
        memory, hidden = self.encode(src, src_lengths)
        logits, _, _ = self.decoder(target_in, hidden, memory)
        return logits

    def forward_stepwise(
        self, src: torch.Tensor, src_lengths: torch.Tensor, target_in: torch.Tensor
    ) -> torch.Tensor:
        """The classic tutorial loop: the same maths as `forward`, one time step per call.

        Kept as the baseline that benchmarks and the model card compare against.
        """
        memory, hidden = self.encode(src, src_lengths)
        steps = []
        for t in range(target_in.size(1)):
            logits, hidden, _ = self.decoder(target_in[:, t : t + 1], hidden, memory)
            steps.append(logits)  # (B, 1, V)
        return torch.cat(steps, dim=1)  # (B, T, V)

    def step(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoding step: tokens (B,) -> log-probs (B, V), hidden (L, B, H), attn (B, S)."""
        logits, hidden, weights = self.decoder(tokens.unsqueeze(1), hidden, memory)
        return torch.log_softmax(logits[:, 0].float(), dim=-1), hidden, weights[:, 0]

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())
