"""The Seq2Seq model: shapes, padding, teacher forcing against the step loop, and learning."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from engine.config import ModelConfig, preset
from engine.model import Seq2Seq
from engine.tokenizer import BOS_ID, EOS_ID, PAD_ID
from engine.train import masked_loss

VOCAB = 60


def make_model(attention: str = "general", **overrides: object) -> Seq2Seq:
    torch.manual_seed(0)
    config = preset("tiny", vocab_size=VOCAB, attention=attention, **overrides)
    return Seq2Seq(config).eval()


def random_batch(
    batch: int = 3, src_len: int = 7, tgt_len: int = 5, seed: int = 1
) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(5, VOCAB, (batch, src_len), generator=generator)
    lengths = torch.tensor([src_len - row for row in range(batch)])  # row r has r pads
    for row in range(batch):
        src[row, lengths[row] :] = PAD_ID
    target_in = torch.randint(5, VOCAB, (batch, tgt_len), generator=generator)
    target_in[:, 0] = BOS_ID
    return src, lengths, target_in


@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_shapes(attention: str, num_layers: int) -> None:
    model = make_model(attention, num_layers=num_layers)
    config = model.config
    src, lengths, target_in = random_batch(batch=3, src_len=7, tgt_len=5)
    memory, hidden = model.encode(src, lengths)
    assert memory.outputs.shape == (3, 7, config.hidden_size)
    assert memory.keys.shape == (3, 7, config.hidden_size)
    assert memory.pad_mask.tolist() == src.eq(PAD_ID).tolist()
    assert hidden.shape == (num_layers, 3, config.hidden_size)
    assert model(src, lengths, target_in).shape == (3, 5, VOCAB)
    log_probs, hidden, weights = model.step(target_in[:, 0], hidden, memory)
    assert log_probs.shape == (3, VOCAB)
    assert hidden.shape == (num_layers, 3, config.hidden_size)
    assert weights.shape == (3, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3), atol=1e-5)
    # Attention never looks at padding (row r has r pads at the end).
    assert weights[2, -2:].abs().max() == 0 and weights[1, -1] == 0


@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
def test_padding_does_not_change_real_outputs(attention: str) -> None:
    model = make_model(attention)
    src, lengths, target_in = random_batch(batch=3, src_len=9, tgt_len=6)
    batched = model(src, lengths, target_in)
    for row in range(3):
        length = int(lengths[row])
        alone = model(src[row : row + 1, :length], lengths[row : row + 1], target_in[row : row + 1])
        assert torch.allclose(batched[row], alone[0], atol=1e-5), row
    # Longer target padding leaves the earlier positions alone (the decoder is causal).
    padded = torch.cat([target_in, torch.full((3, 4), PAD_ID)], dim=1)
    assert torch.allclose(model(src, lengths, padded)[:, :6], batched, atol=1e-5)


@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_forward_equals_forward_stepwise(attention: str, num_layers: int) -> None:
    model = make_model(attention, num_layers=num_layers)
    src, lengths, target_in = random_batch(batch=4, src_len=8, tgt_len=7)
    fast = model(src, lengths, target_in)
    slow = model.forward_stepwise(src, lengths, target_in)
    assert torch.allclose(fast, slow, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
def test_step_matches_forward(attention: str) -> None:
    model = make_model(attention)
    src, lengths, target_in = random_batch(batch=3, src_len=6, tgt_len=5)
    expected = torch.log_softmax(model(src, lengths, target_in), dim=-1)  # (B, T, V)
    memory, hidden = model.encode(src, lengths)
    for t in range(target_in.size(1)):  # t = 0 is the first reply token; the rest follow suit
        log_probs, hidden, _ = model.step(target_in[:, t], hidden, memory)
        assert torch.allclose(log_probs, expected[:, t], atol=1e-5), t


def test_untied_output_layer() -> None:
    model = make_model(tie_embeddings=False)
    assert model.decoder.out is not None
    src, lengths, target_in = random_batch()
    assert model(src, lengths, target_in).shape[-1] == VOCAB


def test_tiny_model_overfits_twenty_pairs() -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=VOCAB, embedding_dim=32, hidden_size=64, dropout=0.0, attention="general"
    )
    model = Seq2Seq(config).train()
    generator = torch.Generator().manual_seed(3)
    src = torch.randint(5, VOCAB, (20, 6), generator=generator)
    response = torch.randint(5, VOCAB, (20, 5), generator=generator)
    target_out = torch.cat([response, torch.full((20, 1), EOS_ID)], dim=1)  # (20, 6)
    target_in = torch.cat([torch.full((20, 1), BOS_ID), response], dim=1)
    lengths = torch.full((20,), 6)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(300):
        loss = masked_loss(model(src, lengths, target_in), target_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 3.5  # ~ln(60): it started from chance
    assert losses[-1] < 0.05
    model.eval()
    predicted = model(src, lengths, target_in).argmax(-1)
    assert torch.equal(predicted, target_out)


def test_masked_loss_ignores_padding() -> None:
    logits = torch.randn(2, 4, VOCAB)
    target = torch.tensor([[7, 8, EOS_ID, PAD_ID], [9, EOS_ID, PAD_ID, PAD_ID]])
    changed = logits.clone()
    changed[0, 3] += 100.0  # a padded position's logits must not matter
    changed[1, 2:] -= 50.0
    assert torch.allclose(masked_loss(logits, target), masked_loss(changed, target))


@pytest.mark.parametrize("num_layers", [1, 2])
def test_padded_encoder_equals_packed_gru(num_layers: int) -> None:
    model = make_model(num_layers=num_layers)
    encoder = model.encoder
    generator = torch.Generator().manual_seed(4)
    embedded = torch.randn(5, 9, 32, generator=generator, requires_grad=True)
    lengths = torch.tensor([9, 3, 1, 7, 9])
    outputs, final = encoder.run_padded(embedded, lengths)
    packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
    packed_out, packed_final = encoder.gru(packed)
    expected, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=9)
    assert torch.allclose(outputs, expected, atol=1e-6)
    assert torch.allclose(final, packed_final, atol=1e-6)
    grad = torch.autograd.grad(outputs.sum() + final.sum(), embedded)[0]
    expected_grad = torch.autograd.grad(expected.sum() + packed_final.sum(), embedded)[0]
    assert torch.allclose(grad, expected_grad, atol=1e-5)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_loss_equals_masked_loss_of_forward(label_smoothing: float) -> None:
    model = make_model()
    src, lengths, target_in = random_batch(batch=4, src_len=8, tgt_len=6)
    target_out = torch.cat([target_in[:, 1:], torch.full((4, 1), EOS_ID)], dim=1)
    target_out[1, 3:] = PAD_ID  # rows of different lengths
    target_out[3, 1:] = PAD_ID
    fast = model.loss(src, lengths, target_in, target_out, label_smoothing=label_smoothing)
    slow = masked_loss(model(src, lengths, target_in), target_out, label_smoothing)
    assert torch.allclose(fast, slow, atol=1e-6)
    fast_grads = torch.autograd.grad(fast, list(model.parameters()))
    slow_grads = torch.autograd.grad(slow, list(model.parameters()))
    for a, b in zip(fast_grads, slow_grads):
        assert torch.allclose(a, b, atol=1e-6)
    summed = model.loss(
        src, lengths, target_in, target_out, label_smoothing=label_smoothing, reduction="sum"
    )
    assert torch.allclose(summed / target_out.ne(PAD_ID).sum(), fast, atol=1e-6)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_scoring_a_batch_of_mixed_lengths_equals_scoring_each_row_alone(num_layers: int) -> None:
    # target_log_probs runs both GRUs packed: padding must change no row's score.
    model = make_model(num_layers=num_layers)
    generator = torch.Generator().manual_seed(5)
    sources = [torch.randint(5, VOCAB, (n,), generator=generator) for n in (9, 2, 6, 1)]
    targets = [torch.randint(5, VOCAB, (n,), generator=generator) for n in (1, 7, 3, 5)]
    src = pad_sequence(sources, batch_first=True, padding_value=PAD_ID)
    target_out = pad_sequence(
        [torch.cat([t, torch.tensor([EOS_ID])]) for t in targets],
        batch_first=True,
        padding_value=PAD_ID,
    )
    target_in = pad_sequence(
        [torch.cat([torch.tensor([BOS_ID]), t]) for t in targets],
        batch_first=True,
        padding_value=PAD_ID,
    )
    lengths = torch.tensor([len(s) for s in sources])
    with torch.inference_mode():
        batched = model.target_log_probs(src, lengths, target_in, target_out)
        for row, (source, target) in enumerate(zip(sources, targets)):
            alone_out = torch.cat([target, torch.tensor([EOS_ID])])[None]
            alone_in = torch.cat([torch.tensor([BOS_ID]), target])[None]
            nll = model.loss(source[None], lengths[row : row + 1], alone_in, alone_out)
            assert float(batched[row]) == pytest.approx(-float(nll) * (len(target) + 1), abs=1e-4)
