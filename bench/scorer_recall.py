"""How well the pool's scorer picks the reply a turn really got: recall@1 among 100 (prints JSON).

The validation split's turn pairs (as the reply index would hold them) in groups of 100: each
turn's own reply must outscore the other 99 replies of its group. By default the pairs are
shuffled (seeded) before grouping, so the other 99 come from other conversations, as in Lowe et
al.; `--negatives nearby` keeps the split's order instead, so most of a group comes from the
same two or three conversations on one topic, a far harder test (and the one this bench first
ran, which put every scorer near chance). Each reply is scored as the
pool scores a candidate: log p(reply | turn) / length + λ · log p(turn | reply) / length of the
turn (the forward and backward models), for each λ asked; `backward_only` is the second term
alone. Chance is 0.01. This is the classic response-selection measure (Lowe et al. 2015); a
scorer near chance on it cannot tell which of the pool's replies fits, however it is calibrated.

    python bench/scorer_recall.py [--model DIR] [--groups 3] [--weights 0 1 3 5 10]
                                  [--negatives random|nearby]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from engine.batching import encode_context
from engine.chatbot import Chatbot
from engine.decoding.rerank import pair_log_probs
from engine.pipeline import load_splits
from engine.retrieval import usable_pair

GROUP = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--groups", type=int, default=3, help="groups of 100 turns")
    parser.add_argument(
        "--negatives",
        choices=("random", "nearby"),
        default="random",
        help="random: a group's replies from across the split; nearby: in the split's order",
    )
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 3.0, 5.0, 10.0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    bot = Chatbot.load(args.model, device="cpu")
    if bot.backward is None:
        raise SystemExit(f"{bot.model_dir} has no backward model: {bot.backward_problem}")
    examples = load_splits("chitchat", context_turns=bot.config.context_turns).get("valid")
    pairs = [(e.context[-1], e.response) for e in examples if e.context]
    pairs = [pair for pair in pairs if usable_pair(*pair)]
    if args.negatives == "random":
        random.Random(0).shuffle(pairs)
    pairs = pairs[: args.groups * GROUP]
    started = time.perf_counter()
    hits = {weight: 0 for weight in args.weights}
    backward_hits = 0
    with torch.inference_mode():
        for start in range(0, len(pairs) - GROUP + 1, GROUP):
            group = pairs[start : start + GROUP]
            limit = bot.config.max_response_tokens
            replies = [bot.tokenizer.encode_response(reply, max_tokens=limit) for _, reply in group]
            reply_sources = [
                encode_context(bot.tokenizer, [r], bot.backward.config) for _, r in group
            ]
            for row, (turn, _) in enumerate(group):
                source = encode_context(bot.tokenizer, [turn], bot.config)
                forward = pair_log_probs(bot.model, [source] * GROUP, replies, bot.device)
                forward = [score / len(reply) for score, reply in zip(forward, replies)]
                target = bot.tokenizer.encode_response(turn, max_tokens=limit)
                backward = pair_log_probs(bot.backward, reply_sources, [target] * GROUP, bot.device)
                backward = [score / len(target) for score in backward]
                for weight in args.weights:
                    scores = [f + weight * b for f, b in zip(forward, backward)]
                    hits[weight] += max(range(GROUP), key=scores.__getitem__) == row
                backward_hits += max(range(GROUP), key=backward.__getitem__) == row
    turns = len(pairs) - len(pairs) % GROUP
    print(json.dumps({
        "model": str(bot.model_dir),
        "turns": turns,
        "negatives": args.negatives,
        "chance": 1 / GROUP,
        "recall_at_1": {f"lambda_{weight:g}": round(hits[weight] / turns, 4) for weight in hits},
        "backward_only": round(backward_hits / turns, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
