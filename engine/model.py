"""The dialogue model: a bidirectional GRU encoder and a GRU decoder with Luong attention.

Attention is applied to the decoder GRU's *output* (Luong et al. 2015, without input feeding), so
a teacher-forced batch runs the decoder GRU over the whole target in one call, and `loss()` runs
the output layer on the real target tokens only; decoding runs the same layers one step at a time
through `step()`. Shapes: B batch, S source length, T target length, E embedding size, H hidden
size, L layers, V vocabulary, N real target tokens.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
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


def run_packed(
    gru: nn.Module,
    embedded: torch.Tensor,
    lengths: torch.Tensor,
    hidden: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`gru` over each row's first `lengths` steps of `embedded` (B, T, E) alone: outputs
    (B, T, H) with zeros past each row's end, and each row's state after its last real step."""
    sequence = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
    packed_outputs, final = gru(sequence, hidden)
    outputs, _ = pad_packed_sequence(
        packed_outputs, batch_first=True, total_length=embedded.size(1)
    )
    return outputs, final


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

    def forward(
        self, src: torch.Tensor, src_lengths: torch.Tensor, *, packed: bool = False
    ) -> tuple[torch.Tensor, ...]:
        """`packed`: run the GRU on the real tokens alone, as scoring wants (see
        `Seq2Seq.target_log_probs`); otherwise a padded batch takes `run_padded`."""
        batch, length = src.shape
        embedded = self.dropout(self.embedding(src))  # (B, S, E)
        if int(src_lengths.min()) == length:  # no padding (decoding: one context)
            outputs, final = self.gru(embedded)
        elif type(self.gru) is nn.GRU and not packed:
            outputs, final = self.run_padded(embedded, src_lengths)
        else:  # scoring, or a quantized GRU stand-in: the general (packed) path
            outputs, final = run_packed(self.gru, embedded, src_lengths)  # (L * 2, B, H/2)
        layers = final.view(self.gru.num_layers, 2, batch, -1)  # (L, 2, B, H/2)
        final = torch.cat([layers[:, 0], layers[:, 1]], dim=-1)  # (L, B, H)
        return outputs, torch.tanh(self.bridge(final))

    def run_padded(
        self, embedded: torch.Tensor, src_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What `self.gru` computes on the packed batch, from the padded one: (B, S, H) outputs
        (zeros at padding) and (L * 2, B, H/2) final states.

        Each direction of each layer is one GRU call over the padded batch; the backward
        direction reads every row reversed within its length, so no row starts on padding.
        Why: on the CPU, the backward pass of a *packed* GRU builds a gradient the size of the
        whole packed input for every time step (the slice of each step, zero-filled), which
        cost a quarter of a training step of the `small` model.
        """
        batch, length, _ = embedded.shape
        lengths = src_lengths.to(embedded.device).unsqueeze(1)  # (B, 1)
        positions = torch.arange(length, device=embedded.device).unsqueeze(0)  # (1, S)
        real = positions < lengths  # (B, S)
        # Position t of a row reversed within its length; padding stays put. Its own inverse.
        reverse = torch.where(real, lengths - 1 - positions, positions).unsqueeze(-1)  # (B, S, 1)
        last = (lengths - 1).unsqueeze(-1)  # (B, 1, 1)
        gru, x, finals = self.gru, embedded, []
        for layer in range(gru.num_layers):
            if layer:
                x = F.dropout(x, gru.dropout, self.training)
            directions = []
            for suffix in ("", "_reverse"):
                inputs = x if not suffix else x.gather(1, reverse.expand_as(x))
                weights = [
                    getattr(gru, f"{name}_l{layer}{suffix}")
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                ]
                start = x.new_zeros(1, batch, gru.hidden_size)
                # (input, h0, weights, has_biases, layers, dropout, train, bidirectional,
                # batch_first): the function behind nn.GRU, here for one layer, one direction.
                out, _ = torch._VF.gru(
                    inputs, start, weights, True, 1, 0.0, self.training, False, True
                )
                finals.append(out.gather(1, last.expand(-1, 1, out.size(-1))).squeeze(1))
                directions.append(out if not suffix else out.gather(1, reverse.expand_as(out)))
            x = torch.cat(directions, dim=-1)  # (B, S, H)
        return x.masked_fill(~real.unsqueeze(-1), 0.0), torch.stack(finals)


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
        self.vocab_size = config.vocab_size  # the pieces; an exemplar marker row is never output
        self.combine = nn.Linear(2 * config.hidden_size, config.embedding_dim)
        self.out = (
            None if config.tie_embeddings else nn.Linear(config.embedding_dim, config.vocab_size)
        )

    def forward(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (B, T) -> logits (B, T, V), hidden (L, B, H), attention (B, T, S)."""
        combined, hidden, weights = self.features(tokens, hidden, memory)
        return self.output_logits(combined), hidden, weights

    def features(
        self,
        tokens: torch.Tensor,
        hidden: torch.Tensor,
        memory: Memory,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`forward` up to the output layer: tokens (B, T) -> (B, T, E), hidden, attention.

        `lengths` (B,): each row's real tokens; the GRU then runs on those alone (packed), its
        outputs past them are 0 and `hidden` is each row's state after its last real token."""
        embedded = self.dropout(self.embedding(tokens))  # (B, T, E)
        if lengths is None:
            outputs, hidden = self.gru(embedded, hidden)  # (B, T, H)
        else:
            outputs, hidden = run_packed(self.gru, embedded, lengths, hidden)  # (B, T, H)
        context, weights = self.attention(outputs, memory)  # (B, T, H), (B, T, S)
        combined = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))  # (B, T, E)
        return self.dropout(combined), hidden, weights

    def output_logits(self, combined: torch.Tensor) -> torch.Tensor:
        """(..., E) -> (..., V) through the tied embedding or the separate output layer."""
        if self.out is None:
            return combined @ self.embedding.weight[: self.vocab_size].t()  # (..., V)
        return self.out(combined)

    def can_step_with_cells(self) -> bool:
        """True when `step_with_cells` computes exactly what `forward` does: in eval mode (no
        dropout between layers) and with a float `nn.GRU` (not a quantized stand-in)."""
        return not self.training and type(self.gru) is nn.GRU

    def step_with_cells(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of `forward` without the time axis: tokens (B,) -> logits (B, V).

        The same maths through `torch.gru_cell` (bit-identical to `nn.GRU` on one step), which
        skips the module's per-call checks: decoding spends its time in Python overhead, not
        in FLOPs, for a model this small.
        """
        x = F.embedding(tokens, self.embedding.weight)  # (B, E)
        states = []
        for layer in range(self.gru.num_layers):
            x = torch.gru_cell(
                x,
                hidden[layer],
                getattr(self.gru, f"weight_ih_l{layer}"),
                getattr(self.gru, f"weight_hh_l{layer}"),
                getattr(self.gru, f"bias_ih_l{layer}"),
                getattr(self.gru, f"bias_hh_l{layer}"),
            )  # (B, H)
            states.append(x)
        context, weights = self.attention(x.unsqueeze(1), memory)  # (B, 1, H), (B, 1, S)
        combined = torch.tanh(self.combine(torch.cat([x, context[:, 0]], dim=-1)))  # (B, E)
        return self.output_logits(combined), torch.stack(states), weights[:, 0]


class Seq2Seq(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        rows = config.vocab_size + int(config.exemplar)  # + the exemplar marker's row
        self.embedding = nn.Embedding(rows, config.embedding_dim, padding_idx=PAD_ID)
        # A small init keeps the tied output layer's first logits near uniform.
        nn.init.normal_(self.embedding.weight, std=config.embedding_dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        self.encoder = Encoder(config, self.embedding)
        self.decoder = Decoder(config, self.embedding)

    def encode(
        self, src: torch.Tensor, src_lengths: torch.Tensor, *, packed: bool = False
    ) -> tuple[Memory, torch.Tensor]:
        """src (B, S) padded ids -> memory and the decoder's first hidden state (L, B, H).
        `packed`: the encoder's GRU runs on the real tokens alone (`Encoder.forward`)."""
        outputs, hidden = self.encoder(src, src_lengths, packed=packed)
        memory = Memory(outputs, self.decoder.attention.keys(outputs), src.eq(PAD_ID))
        return memory, hidden

    def forward(
        self, src: torch.Tensor, src_lengths: torch.Tensor, target_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: target_in (B, T) starts with bos -> logits (B, T, V)."""
        memory, hidden = self.encode(src, src_lengths)
        logits, _, _ = self.decoder(target_in, hidden, memory)
        return logits

    def loss(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        target_in: torch.Tensor,
        target_out: torch.Tensor,
        *,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """Teacher-forced cross-entropy over the real (non-pad) target tokens: the same value as
        `masked_loss(forward(...), target_out)`, but the output layer and the softmax, most of a
        training step, run on those tokens only instead of on every padded position."""
        memory, hidden = self.encode(src, src_lengths)
        combined, _, _ = self.decoder.features(target_in, hidden, memory)  # (B, T, E)
        real = target_out.ne(PAD_ID)  # (B, T)
        logits = self.decoder.output_logits(combined[real])  # (N, V)
        return F.cross_entropy(
            logits.float(), target_out[real], label_smoothing=label_smoothing, reduction=reduction
        )

    def target_log_probs(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        target_in: torch.Tensor,
        target_out: torch.Tensor,
    ) -> torch.Tensor:
        """Teacher-forced log p(target | source) of each row, summed over its real (non-pad)
        tokens: (B,). How `rerank` scores whole replies in one batched pass.

        The candidates of a pool differ in length (2 to 40 tokens, two thirds of a padded batch
        was padding), so both GRUs run packed, on the real tokens alone."""
        if src.shape[0] > 1 and bool((src == src[:1]).all()):
            # One source for every row (a pool's candidates for one turn): encode it once.
            memory, hidden = self.encode(src[:1], src_lengths[:1])
            rows = torch.zeros(src.shape[0], dtype=torch.long, device=src.device)
            memory, hidden = memory.index_select(rows), hidden.index_select(1, rows)
        else:
            memory, hidden = self.encode(src, src_lengths, packed=True)
        real = target_out.ne(PAD_ID)  # (B, T)
        combined, _, _ = self.decoder.features(target_in, hidden, memory, real.sum(dim=1))
        logits = self.decoder.output_logits(combined[real]).float()  # (N, V), real tokens only
        # cross_entropy is -log_softmax picked at the target: one fused pass, not logsumexp's.
        picked = -F.cross_entropy(logits, target_out[real], reduction="none")  # (N,)
        per_token = torch.zeros(real.shape, dtype=picked.dtype, device=picked.device)
        return per_token.masked_scatter(real, picked).sum(dim=1)

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
        if self.decoder.can_step_with_cells():
            logits, hidden, weights = self.decoder.step_with_cells(tokens, hidden, memory)
        else:
            logits, hidden, weights = self.decoder(tokens.unsqueeze(1), hidden, memory)
            logits, weights = logits[:, 0], weights[:, 0]
        return torch.log_softmax(logits.float(), dim=-1), hidden, weights

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())
