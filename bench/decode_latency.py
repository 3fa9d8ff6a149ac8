"""Reply latency of greedy, beam and sampling against a per-hypothesis beam and the machine's limit.

Prints one JSON object. Every strategy replies to the same prompts with the same fixed reply
length (min_length = max_length = --length), the same processors (no-repeat 3-grams,
repetition penalty 1.2) and the same thread count, so the strategies compare fairly:

- `ttft_ms`: from `Chatbot.reply` being called to the first streamed text (greedy);
- `greedy_ms_per_reply`, `greedy_ms_per_token` (= per reply / length), `sample_ms_per_reply`;
- `rerank16_ms_per_reply`: 16 sampled candidates in one batch, rescored by MMI (backward model
  or anti-LM, `rerank_scorer`), and `rerank16_over_sample`: its cost over one sampled reply;
- `beam5_ms_per_reply`: beam search with the 5 beams folded into one batch (ours);
- `beam5_per_hyp_ms_per_reply`: the baseline, the same search with each hypothesis run through
  `model.step` on its own (5 batch-1 steps per step), as a naive beam search does;
- `limit_ms_per_token`: a lower bound for one batch-1 decoder step on this machine: the larger of
  its FLOPs over the measured matmul rate and its weight bytes over the measured memory
  bandwidth (see `decoder_step_cost`).

Each figure is the mean over prompts of the best of `--repeats` runs (the least disturbed by
other processes; `load_average_1m` says how busy the machine was). `sample_cpu_ms_per_reply`,
`pool_cpu_ms_per_reply` and `pool_over_sample_cpu` are the same in CPU time (every thread of
this process), which other processes disturb far less than the wall clock: on a busy machine
they say what an idle one would (the pool's index search, on its own thread while the model
samples, counts in them though it is off the reply's critical path).

    python bench/decode_latency.py [--model DIR] [--length 20] [--repeats 5] [--threads 1]

With no --model: the shipped model in resources/model if there is one, else a randomly
initialised `small` model (timing does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench._machine import machine_figures
from engine.chatbot import Chatbot
from engine.checkpoint import Checkpoint
from engine.config import ModelConfig, preset
from engine.decoding.config import PRESETS, DecodeConfig
from engine.model import Memory, Seq2Seq

PROMPTS = [
    ["hello"],
    ["how are you doing today?"],
    ["what do you do for fun on the weekend?"],
    ["i just got back from a trip to the mountains", "oh nice! how was it?", "cold but lovely"],
    ["do you like music?"],
    ["what's the best book you have read this year and why did you like it so much?"],
]
PROCESSORS = {"no_repeat_ngram_size": 3, "repetition_penalty": 1.2}


def random_small_bot() -> Chatbot:
    """A `small` model with random weights and a BPE tokenizer of the same 4,000 pieces."""
    from engine.data import read_chitchat
    from engine.tokenizer import Tokenizer

    texts = [turn for conversation in read_chitchat()[:600] for turn in conversation.turns]
    tokenizer = Tokenizer.train(texts, vocab_size=4000, model_type="bpe")  # < 1 s, unlike unigram
    config = preset("small", vocab_size=tokenizer.vocab_size)
    torch.manual_seed(0)
    model = Seq2Seq(config).eval()
    return Chatbot(Checkpoint(model, tokenizer, config, Path("random-small")), torch.device("cpu"))


def load_bot(model_dir: str | None) -> tuple[Chatbot, str]:
    shipped = Path(__file__).resolve().parents[1] / "resources" / "model"
    if model_dir is None and (shipped / "config.json").is_file():
        model_dir = str(shipped)
    if model_dir is None:
        return random_small_bot(), "random-init small"
    return Chatbot.load(model_dir, device="cpu"), model_dir


class PerHypothesisModel:
    """The baseline: the same model, but every row (hypothesis) runs through `step` alone."""

    def __init__(self, model: Seq2Seq) -> None:
        self.model = model

    def parameters(self):
        return self.model.parameters()

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        return self.model.encode(src, src_lengths)

    def step(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        one = Memory(*(tensor[:1] for tensor in memory))  # every row reads the same context
        outputs = [
            self.model.step(tokens[row : row + 1], hidden[:, row : row + 1], one)
            for row in range(tokens.size(0))
        ]
        log_probs, hiddens, weights = zip(*outputs)
        return torch.cat(log_probs), torch.cat(hiddens, dim=1), torch.cat(weights)


def decoder_step_cost(config: ModelConfig, source_length: int) -> tuple[float, float]:
    """(FLOPs, bytes read) of one batch-1 decoder step, multiply-add = 2 FLOPs.

    GRU layer l: 3 gates x (input + hidden) x H x 2 FLOPs, input E for l = 0 else H;
    attention over S source positions: scores 2SH (dot/general: keys precomputed at encode;
    concat adds a 2H^2 query projection and 2SH for v) + context 2SH; combine: 2 x 2H x E;
    output layer: 2 x E x V (plus ~5V for log-softmax). Bytes: every decoder weight once (fp32),
    the encoder memory (values and keys) once, the embedding row.
    """
    e, h, v, s = config.embedding_dim, config.hidden_size, config.vocab_size, source_length
    gru = sum(3 * ((e if layer == 0 else h) + h) * h for layer in range(config.num_layers))
    attention_weights = 0 if config.attention != "concat" else h * h + h
    flops = 2 * gru + 4 * s * h + 2 * 2 * h * e + 2 * e * v + 5 * v
    if config.attention == "concat":
        flops += 2 * h * h + 2 * s * h
    weights = gru + attention_weights + 2 * h * e + e * v
    return float(flops), float(4 * (weights + 2 * s * h + e))


def time_replies(
    bot: Chatbot, configs: dict[str, DecodeConfig], repeats: int, baseline: PerHypothesisModel
) -> dict[str, dict[str, object]]:
    """Per configuration: mean over prompts of the best of `repeats` runs. The configurations
    take turns within each repeat, so a burst of load from another process hits them alike."""
    totals: dict[str, list[list[float]]] = {name: [[] for _ in PROMPTS] for name in configs}
    cpu: dict[str, list[list[float]]] = {name: [[] for _ in PROMPTS] for name in configs}
    firsts: dict[str, list[list[float]]] = {name: [[] for _ in PROMPTS] for name in configs}
    tokens: dict[str, list[list[int]]] = {}
    model = bot.model
    for _ in range(repeats):
        for name, config in configs.items():
            bot.model = baseline if name == "beam5_per_hyp" else model  # type: ignore[assignment]
            replies = []
            for index, history in enumerate(PROMPTS):
                started, cpu_started = time.perf_counter(), time.process_time()
                reply = bot.reply(history, config, on_token=lambda text: None)
                totals[name][index].append((time.perf_counter() - started) * 1000)
                cpu[name][index].append((time.process_time() - cpu_started) * 1000)
                firsts[name][index].append(reply.first_token_ms or totals[name][index][-1])
                # The model's replies have a fixed length; the pool's may be a person's.
                fixed = config.strategy != "pool"
                assert not fixed or len(reply.tokens) == config.max_length, "a fixed length"
                replies.append(reply.tokens)
            tokens[name] = replies
    bot.model = model
    return {
        name: {
            "ms_per_reply": statistics.mean(min(runs) for runs in totals[name]),
            "cpu_ms_per_reply": statistics.mean(min(runs) for runs in cpu[name]),
            "first_ms": statistics.mean(min(runs) for runs in firsts[name]),
            "tokens": tokens[name],
        }
        for name in configs
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: shipped, else random small)")
    parser.add_argument("--length", type=int, default=20, help="reply length in tokens")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bot, source = load_bot(args.model)
    fixed = {"min_length": args.length, "max_length": args.length, **PROCESSORS}
    greedy = DecodeConfig(strategy="greedy", **fixed)
    beam = DecodeConfig(strategy="beam", beam_size=5, n_best=5, **fixed)
    sample = DecodeConfig(strategy="sample", temperature=0.7, top_k=40, top_p=0.9, seed=0, **fixed)

    # The default preset's scoring: the backward model and the anti-LM term (8 everyday turns).
    rerank = DecodeConfig(strategy="rerank", candidates=16, temperature=0.9, top_k=40, top_p=0.9,
                          mmi_weight=3.0, anti_lm_weight=1.0, seed=0, **fixed)  # fmt: skip

    # The default preset (the pool): its four samples, 32 replies people wrote from the index,
    # and every candidate scored by the forward and backward models.
    pool = PRESETS["balanced"].replace(seed=0, **fixed)

    configs = {"greedy": greedy, "beam5": beam, "sample": sample, "beam5_per_hyp": beam,
               "rerank16": rerank, "pool": pool}  # fmt: skip
    baseline = PerHypothesisModel(bot.model)
    time_replies(bot, configs, 1, baseline)  # warm-up: first calls allocate and initialise
    times = time_replies(bot, configs, args.repeats, baseline)
    greedy_times, beam_times = times["greedy"], times["beam5"]
    sample_times, per_hyp_times = times["sample"], times["beam5_per_hyp"]

    machine = machine_figures()
    context_lengths = [len(bot.prepare_context(history)[0]) for history in PROMPTS]
    flops, weight_bytes = decoder_step_cost(bot.config, round(statistics.mean(context_lengths)))
    compute_ms = flops / (machine["matmul_gflops"] * 1e9) * 1000
    memory_ms = weight_bytes / (machine["memory_gbs"] * 1e9) * 1000
    limit_ms = max(compute_ms, memory_ms)
    greedy_ms = greedy_times["ms_per_reply"]
    beam_ms = beam_times["ms_per_reply"]
    per_hyp_ms = per_hyp_times["ms_per_reply"]
    result = {
        "model": source,
        "parameters": bot.model.parameter_count(),
        "reply_tokens": args.length,
        "prompts": len(PROMPTS),
        "processors": PROCESSORS,
        "ttft_ms": round(greedy_times["first_ms"], 3),
        "greedy_ms_per_token": round(greedy_ms / args.length, 3),
        "greedy_ms_per_reply": round(greedy_ms, 2),
        "beam5_ms_per_reply": round(beam_ms, 2),
        "beam5_per_hyp_ms_per_reply": round(per_hyp_ms, 2),
        "sample_ms_per_reply": round(sample_times["ms_per_reply"], 2),
        "rerank16_ms_per_reply": round(times["rerank16"]["ms_per_reply"], 2),
        "rerank_scorer": bot.mmi_scorer,
        "pool_ms_per_reply": round(times["pool"]["ms_per_reply"], 2),
        "pool_index_pairs": len(bot.index) if bot.index is not None else 0,
        "limit_ms_per_token": round(limit_ms, 4),
        "limit_compute_ms_per_token": round(compute_ms, 4),
        "limit_memory_ms_per_token": round(memory_ms, 4),
        "decoder_step_mflops": round(flops / 1e6, 3),
        "decoder_step_weight_mb": round(weight_bytes / 1e6, 3),
        "beam5_over_greedy": round(beam_ms / greedy_ms, 3),
        "per_hyp_over_beam5": round(per_hyp_ms / beam_ms, 3),
        "rerank16_over_sample": round(
            times["rerank16"]["ms_per_reply"] / sample_times["ms_per_reply"], 3
        ),
        "pool_over_sample": round(times["pool"]["ms_per_reply"] / sample_times["ms_per_reply"], 3),
        "sample_cpu_ms_per_reply": round(sample_times["cpu_ms_per_reply"], 2),
        "pool_cpu_ms_per_reply": round(times["pool"]["cpu_ms_per_reply"], 2),
        "pool_over_sample_cpu": round(
            times["pool"]["cpu_ms_per_reply"] / sample_times["cpu_ms_per_reply"], 3
        ),
        "greedy_over_limit": round(greedy_ms / args.length / limit_ms, 2),
        "beam_results_match_baseline": beam_times["tokens"] == per_hyp_times["tokens"],
        "machine": machine,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
