"""How well the pool's scorer picks the reply a turn really got, among others (prints JSON).

Each validation turn's own reply must outscore the other replies of its group. Three kinds of
group:
- `random` (the default): groups of 100 of the split's turn pairs, shuffled (seeded) first, so
  the other 99 replies come from other conversations, as in Lowe et al. 2015 (chance 0.01);
- `nearby`: the same without the shuffle, so most of a group comes from the same two or three
  conversations on one topic, a far harder test (the one this bench first ran, which put every
  scorer near chance);
- `retrieved`: the turn's own reply among the replies the reply index finds for the turn (up
  to `--retrieved`, replies equal to its own left out), the candidates the pool itself weighs.
  All of them answered a turn with the same words, so many would do: this measures the fine
  choice the pool makes, and its chance is the mean of 1 / group size.
Each reply is scored as the pool scores a candidate: log p(reply | turn) / length + λ · log
p(turn | reply) / length of the turn (the forward and backward models), for each λ asked;
`backward_only` is the second term alone and `fit_only` the turn encoder's cosine of reply and
turn (the pool's fit term), when the model has one beside its reply index. A scorer near chance
here cannot tell which of the pool's replies fits, however it is calibrated.

    python bench/scorer_recall.py [--model DIR] [--groups 3] [--weights 0 1 3 5 10]
                                  [--negatives random|nearby|retrieved] [--retrieved 32]
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from engine.batching import encode_context
from engine.chatbot import Chatbot
from engine.decoding.rerank import pair_log_probs
from engine.pipeline import load_splits
from engine.retrieval import query_words, usable_pair

GROUP = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--groups", type=int, default=3, help="groups of 100 turns")
    parser.add_argument(
        "--negatives",
        choices=("random", "nearby", "retrieved"),
        default="random",
        help="random: a group's replies from across the split; nearby: in the split's order;"
        " retrieved: the replies the reply index finds for the turn",
    )
    parser.add_argument("--retrieved", type=int, default=32, help="replies found per turn")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 3.0, 5.0, 10.0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    bot = Chatbot.load(args.model, device="cpu")
    if bot.backward is None:
        raise SystemExit(f"{bot.model_dir} has no backward model: {bot.backward_problem}")
    if args.negatives == "retrieved" and bot.index is None:
        raise SystemExit(f"{bot.model_dir} has no reply index: {bot.index_problem}")
    examples = load_splits("chitchat", context_turns=bot.config.context_turns).get("valid")
    pairs = [(e.context[-1], e.response) for e in examples if e.context]
    pairs = [pair for pair in pairs if usable_pair(*pair)]
    if args.negatives != "nearby":
        random.Random(0).shuffle(pairs)
    pairs = pairs[: args.groups * GROUP]
    started = time.perf_counter()
    with torch.inference_mode():
        groups = list(candidate_groups(bot, pairs, args.negatives, args.retrieved))
        hits = tally(bot, groups, args.weights)
    print(json.dumps({
        "model": str(bot.model_dir),
        "turns": len(groups),
        "negatives": args.negatives,
        "chance": round(sum(1 / len(replies) for _, replies in groups) / len(groups), 4),
        "recall_at_1": {name: round(count / len(groups), 4) for name, count in hits.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))  # fmt: skip


def candidate_groups(
    bot: Chatbot, pairs: list[tuple[str, str]], negatives: str, retrieved: int
) -> list[tuple[str, list[str]]]:
    """(turn, replies) for each turn, its own reply first (`retrieved`: the turns the index
    finds replies for)."""
    if negatives != "retrieved":
        whole = len(pairs) - len(pairs) % GROUP
        return [
            (turn, [reply] + [other for j, (_, other) in enumerate(block) if j != row])
            for start in range(0, whole, GROUP)
            for block in [pairs[start : start + GROUP]]
            for row, (turn, reply) in enumerate(block)
        ]
    assert bot.index is not None
    groups = []
    for turn, reply in pairs:
        own = " ".join(query_words(reply))
        found = [item.reply for item in bot.index.search(turn, retrieved)]
        replies = [reply, *(r for r in found if " ".join(query_words(r)) != own)]
        if len(replies) > 1:  # nothing found: nothing to choose between
            groups.append((turn, replies))
    return groups


def tally(bot: Chatbot, groups: Sequence[tuple[str, list[str]]], weights: list[float]) -> dict:
    """In how many groups each scorer puts the turn's own reply (the first) above the rest."""
    encoder = bot.turn_encoder()
    hits = {f"lambda_{weight:g}": 0 for weight in weights}
    hits["backward_only"] = 0
    if encoder is not None:
        hits["fit_only"] = 0
    limit = bot.config.max_response_tokens

    # A random or nearby group's 100 replies recur in all 100 of its turns' groups: encode once.
    @functools.cache
    def as_target(reply: str) -> list[int]:
        return bot.tokenizer.encode_response(reply, max_tokens=limit)

    @functools.cache
    def as_source(reply: str) -> list[int]:
        return encode_context(bot.tokenizer, [reply], bot.backward.config)

    for turn, replies in groups:
        encoded = [as_target(reply) for reply in replies]
        source = encode_context(bot.tokenizer, [turn], bot.config)
        forward = pair_log_probs(bot.model, [source] * len(replies), encoded, bot.device)
        forward = [score / len(reply) for score, reply in zip(forward, encoded)]
        reply_sources = [as_source(reply) for reply in replies]
        target = bot.tokenizer.encode_response(turn, max_tokens=limit)
        backward = pair_log_probs(bot.backward, reply_sources, [target] * len(replies), bot.device)
        backward = [score / len(target) for score in backward]
        scores = {
            f"lambda_{weight:g}": [f + weight * b for f, b in zip(forward, backward)]
            for weight in weights
        }
        scores["backward_only"] = backward
        if encoder is not None:
            scores["fit_only"] = encoder.nearness(turn, replies)
        for name, values in scores.items():
            hits[name] += values[0] > max(values[1:])  # a tie is not a pick
    return hits


if __name__ == "__main__":
    main()
