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

With `--processes N`, instead: `engine.train.train` itself on one process against a DDP run
of it on N processes (`engine.distributed`, gloo on the CPU, NCCL on CUDA), one thread each,
`--minutes` of training per side. Same model (the same initial weights), same list of batches
(the DDP run takes them N at a time, one per rank: its global batch is N batches); tokens/s
are what `train` reports (source + target tokens of every rank over wall time, collation and
the gradient all-reduce included). Prints single_tokens_per_s, ddp_tokens_per_s and
ddp_speedup. `--processes 1 --device cuda` times the single side alone on the GPU (bf16
autocast, as `train` runs there).

    python bench/train_throughput.py --processes 2 [--minutes 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench._machine import machine_figures, matmul_gflops, sustained_matmul_gflops
from engine.batching import Batch, EncodedExample, collate, encode_examples, make_batches
from engine.config import ModelConfig, preset
from engine.data import read_chitchat, split_examples
from engine.device import resolve_device
from engine.distributed import process_group
from engine.model import Seq2Seq
from engine.tokenizer import Tokenizer
from engine.train import TrainConfig, train, training_loss


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


def chitchat_encoded(config: ModelConfig) -> tuple[list[EncodedExample], int]:
    """20,000 chitchat training examples, encoded with a 4,000-piece BPE tokenizer."""
    conversations = read_chitchat()
    texts = [turn for conversation in conversations[:600] for turn in conversation.turns]
    tokenizer = Tokenizer.train(texts, vocab_size=config.vocab_size, model_type="bpe")
    examples = split_examples(conversations, context_turns=config.context_turns)["train"]
    return encode_examples(examples[:20_000], tokenizer, config), tokenizer.vocab_size


def chitchat_batches(config: ModelConfig, count: int, batch_tokens: int) -> tuple[list[Batch], int]:
    """`count` training batches of chitchat, encoded with a 4,000-piece BPE tokenizer."""
    encoded, vocab = chitchat_encoded(config)
    order = make_batches(encoded, max_tokens=batch_tokens, shuffle=True, seed=0)
    cpu = torch.device("cpu")
    return [collate(encoded, indices, cpu) for indices in order[:count]], vocab


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


def timed_training(
    config: ModelConfig,
    encoded: list[EncodedExample],
    train_config: TrainConfig,
    device_name: str,
    rank: int = 0,
    processes: int = 1,
    port: int = 0,
) -> float:
    """`train` for the time budget on this process (one rank of `processes`): its tokens/s."""
    if processes > 1:
        os.environ.update(
            RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(processes),
            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
        )  # fmt: skip
    torch.set_num_threads(1)
    with process_group(resolve_device(device_name)) as group:
        torch.manual_seed(0)
        model = Seq2Seq(config)
        result = train(
            model, None, encoded, encoded[:8], train_config, out_dir=None,  # type: ignore[arg-type]
            device=group.device if group else resolve_device(device_name), group=group,
        )  # fmt: skip
    return result.tokens_per_second


def _rank(
    rank: int,
    queue: multiprocessing.SimpleQueue,
    shared: tuple[ModelConfig, list[EncodedExample], TrainConfig, str],
    processes: int,
    port: int,
) -> None:
    rate = timed_training(*shared, rank=rank, processes=processes, port=port)
    if rank == 0:
        queue.put(rate)


def ddp_comparison(args: argparse.Namespace) -> dict[str, object]:
    """One process against `args.processes` DDP processes, the same batches, one thread each."""
    config = preset(args.preset)
    encoded, vocab = chitchat_encoded(config)
    config = preset(args.preset, vocab_size=vocab)
    train_config = TrainConfig(
        epochs=100, batch_tokens=args.batch_tokens, max_minutes=args.minutes, patience=10**6
    )
    result: dict[str, object] = {
        "model": args.preset, "batch_tokens": args.batch_tokens, "minutes_per_side": args.minutes,
        "processes": args.processes, "threads_per_process": 1, "device": args.device,
    }  # fmt: skip
    single = timed_training(config, encoded, train_config, args.device)
    result["single_tokens_per_s"] = round(single, 1)
    if args.processes > 1:
        context = multiprocessing.get_context("spawn")
        queue = context.SimpleQueue()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        shared = (config, encoded, train_config, args.device)
        ranks = [
            context.Process(target=_rank, args=(rank, queue, shared, args.processes, port))
            for rank in range(args.processes)
        ]
        for process in ranks:
            process.start()
        for process in ranks:
            process.join()
        ddp = queue.get()
        result.update(ddp_tokens_per_s=round(ddp, 1), ddp_speedup=round(ddp / single, 3))
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-tokens", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=2, help="alternating timed passes per way")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--preset", default="small")
    parser.add_argument(
        "--processes", type=int, help="compare 1 process with N DDP processes (see above)"
    )
    parser.add_argument("--minutes", type=float, default=1.0, help="training time per side")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    if args.processes:
        print(json.dumps(ddp_comparison(args), indent=2))
        return
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
