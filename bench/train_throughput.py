"""Training throughput: our teacher-forced decoder against the classic per-step loop, same batches.

Prints one JSON object. One `small` model (the same initial weights for both), the same fixed
batches of chitchat (collated beforehand, so only the model and the optimiser are timed), AdamW
with gradient clipping as in `engine.train`. Two ways:

- ours: `Seq2Seq.loss` (what `engine.train` runs): the decoder GRU runs over the whole target in
  one call, the output layer and softmax over the real target tokens only;
- baseline: `Seq2Seq.forward_stepwise` + masked loss, the tutorial loop, one decoder call per
  time step (`--stepwise-decoder` in `main.py train`).

Tokens are source + target tokens (what `engine.train` reports). The two ways take turns batch
by batch and each keeps its best of `--rounds` times per batch, so a burst of load from another
process does not decide the comparison. `model_gflops` is the achieved rate of useful arithmetic:
forward FLOPs of the real (non-pad) tokens counted from the layer shapes (see `forward_flops`),
times 3 for forward + backward; `fraction_of_matmul` divides it by this machine's measured fp32
matmul rate (the best short burst), `fraction_of_sustained_matmul` by the rate of matmuls run
for as long as a training step (the fair yardstick while another job shares the cores).

    python bench/train_throughput.py [--batches 30] [--batch-tokens 6000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench._machine import machine_figures, matmul_gflops, sustained_matmul_gflops
from engine.batching import Batch, collate, encode_examples, make_batches
from engine.config import ModelConfig, preset
from engine.data import read_chitchat, split_examples
from engine.model import Seq2Seq
from engine.tokenizer import Tokenizer
from engine.train import TrainConfig, training_loss


def forward_flops(config: ModelConfig, batch: Batch) -> float:
    """Forward FLOPs of one batch on its real tokens; a multiply-add counts 2.

    Per source token: each direction of each encoder GRU layer 2 x 3 x (in + H/2) x H/2
    (in = E for the first layer, H after it), both directions; attention keys 2H^2
    (general and concat). Per target token: decoder GRU 2 x 3 x (in + H) x H per layer;
    attention 2SH (scores; concat: 2H^2 query projection + 2SH for v) + 2SH (context) with S
    that example's source length; combine 2 x 2H x E; output layer 2EV; log-softmax and loss
    ~5V. Per example: the bridge 2 x L x H^2. Element-wise gate maths is left out (< 2 %).
    """
    e, h, v, layers = config.embedding_dim, config.hidden_size, config.vocab_size, config.num_layers
    half = h // 2
    encoder_token = sum(
        2 * 2 * 3 * ((e if layer == 0 else h) + half) * half for layer in range(layers)
    )
    if config.attention != "dot":
        encoder_token += 2 * h * h
    decoder_token = sum(2 * 3 * ((e if layer == 0 else h) + h) * h for layer in range(layers))
    decoder_token += 2 * 2 * h * e + 2 * e * v + 5 * v
    if config.attention == "concat":
        decoder_token += 2 * h * h
    source_lengths = batch.src_lengths.tolist()
    target_lengths = batch.target_out.ne(0).sum(dim=1).tolist()
    attention = sum(
        (6 if config.attention == "concat" else 4) * s * h * t
        for s, t in zip(source_lengths, target_lengths)
    )
    return float(
        encoder_token * sum(source_lengths)
        + decoder_token * sum(target_lengths)
        + attention
        + 2 * layers * h * h * len(source_lengths)
    )


def chitchat_batches(config: ModelConfig, count: int, batch_tokens: int) -> tuple[list[Batch], int]:
    """`count` training batches of chitchat, encoded with a 4,000-piece BPE tokenizer."""
    conversations = read_chitchat()
    texts = [turn for conversation in conversations[:600] for turn in conversation.turns]
    tokenizer = Tokenizer.train(texts, vocab_size=config.vocab_size, model_type="bpe")
    examples = split_examples(conversations, context_turns=config.context_turns)["train"]
    encoded = encode_examples(examples[:20_000], tokenizer, config)
    order = make_batches(encoded, max_tokens=batch_tokens, shuffle=True, seed=0)
    cpu = torch.device("cpu")
    return [collate(encoded, indices, cpu) for indices in order[:count]], tokenizer.vocab_size


def train_step(
    model: Seq2Seq, optimizer: torch.optim.Optimizer, batch: Batch, stepwise: bool
) -> float:
    """Seconds for one optimisation step on `batch`, as `engine.train.train` takes it."""
    started = time.perf_counter()
    loss = training_loss(model, batch, TrainConfig(stepwise_decoder=stepwise))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return time.perf_counter() - started


def time_split(
    model: Seq2Seq, optimizer: torch.optim.Optimizer, batches: list[Batch]
) -> dict[str, float]:
    """Where a training step of ours spends its time (torch.profiler, self CPU time):
    matrix products, the softmax of the loss, and the rest (element-wise gate maths, copies,
    autograd bookkeeping), which on a CPU runs op by op for every time step of each GRU."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for batch in batches:
            train_step(model, optimizer, batch, stepwise=False)
    totals = {"matmul": 0.0, "log_softmax": 0.0, "other": 0.0}
    for event in profiler.key_averages():
        name = event.key
        if name in ("aten::mm", "aten::addmm", "aten::bmm"):
            totals["matmul"] += event.self_cpu_time_total
        elif "log_softmax" in name:
            totals["log_softmax"] += event.self_cpu_time_total
        else:
            totals["other"] += event.self_cpu_time_total
    whole = sum(totals.values())
    return {name: round(value / whole, 3) for name, value in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-tokens", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=2, help="alternating timed passes per way")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--preset", default="small")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = preset(args.preset)
    batches, vocab = chitchat_batches(config, args.batches, args.batch_tokens)
    config = preset(args.preset, vocab_size=vocab)
    tokens = sum(batch.source_tokens + batch.target_tokens for batch in batches)
    flops = 3 * sum(forward_flops(config, batch) for batch in batches)

    runs = {}
    for name, stepwise in (("ours", False), ("baseline", True)):
        torch.manual_seed(0)
        model = Seq2Seq(config).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
        for batch in batches[:2]:  # warm-up: allocations, AdamW state
            train_step(model, optimizer, batch, stepwise)
        runs[name] = (model, optimizer, stepwise)
    # Per batch, the two ways run back to back and each keeps its best of `rounds`: a burst of
    # load from another process slows one step, not one side of the comparison.
    best = {name: [float("inf")] * len(batches) for name in runs}
    for _ in range(args.rounds):
        for index, batch in enumerate(batches):
            for name, (model, optimizer, stepwise) in runs.items():
                seconds = train_step(model, optimizer, batch, stepwise)
                best[name][index] = min(best[name][index], seconds)
    seconds = {name: sum(times) for name, times in best.items()}

    split = time_split(runs["ours"][0], runs["ours"][1], batches[:3])
    mean_rows = round(sum(len(batch.src) for batch in batches) / len(batches))
    real_targets = sum(batch.target_tokens for batch in batches) // len(batches)
    e, h, v = config.embedding_dim, config.hidden_size, config.vocab_size
    shapes = {  # the products a step is made of, measured alone on this machine
        "recurrent_step (B,H)@(H,3H)": matmul_gflops(mean_rows, h, 3 * h),
        "output_layer (N,E)@(E,V)": matmul_gflops(real_targets, e, v, repeats=5),
        "output_grad (N,V)@(V,E)": matmul_gflops(real_targets, v, e, repeats=5),
    }
    machine = machine_figures()
    sustained = sustained_matmul_gflops()
    ours_gflops = flops / seconds["ours"] / 1e9
    padded = sum(batch.src.numel() + batch.target_out.numel() for batch in batches)
    result = {
        "model": args.preset,
        "parameters": runs["ours"][0].parameter_count(),
        "batches": len(batches),
        "batch_tokens": args.batch_tokens,
        "tokens": tokens,
        "padding_fraction": round(1 - tokens / padded, 4),
        "ours_tokens_per_s": round(tokens / seconds["ours"], 1),
        "baseline_tokens_per_s": round(tokens / seconds["baseline"], 1),
        "speedup": round(seconds["baseline"] / seconds["ours"], 3),
        "ours_s_per_batch": round(seconds["ours"] / len(batches), 4),
        "baseline_s_per_batch": round(seconds["baseline"] / len(batches), 4),
        "train_gflop_per_batch": round(flops / len(batches) / 1e9, 3),
        "model_gflops": round(ours_gflops, 2),
        "baseline_model_gflops": round(flops / seconds["baseline"] / 1e9, 2),
        "matmul_gflops": machine["matmul_gflops"],
        "fraction_of_matmul": round(ours_gflops / machine["matmul_gflops"], 4),
        "matmul_gflops_sustained": round(sustained, 2),
        "fraction_of_sustained_matmul": round(ours_gflops / sustained, 4),
        "ours_time_split": split,
        "model_matmul_shapes_gflops": {name: round(rate, 1) for name, rate in shapes.items()},
        "machine": machine,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
