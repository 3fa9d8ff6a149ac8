"""Fine-tuning wall time: `main.py finetune` on 200 saved pairs with replay 0.5 (target < 5 min).

Prints one JSON object. The saved pairs are made from chitchat test-split conversations (up to
two exchanges each), as a user would leave them: three in four bot replies corrected to what
the person really said next, one in four real replies rated up. The model is the shipped one
(`resources/model`); if there is none yet, a `small` model with random weights and a tokenizer
trained on chitchat is saved to a temporary folder (`model` in the JSON says which). Its
training record names chitchat, so replay and the original validation figures use chitchat, as
for the real model.

The fine-tune runs as the app runs it: a child process with `--progress json`; `seconds` is the
child's whole wall time (start-up, reading the 40 MB corpus, measuring before and after, the
replies compared, saving), `train_seconds` the training loop alone. The child gets one thread
less than the machine has, as the app's dialog gives it (on a busy 2-core machine, two threads
fighting another process for the cores made the same run ten times slower).

    python bench/finetune.py [--model DIR] [--pairs 200] [--threads N]

`--teach N` measures teaching instead: a store with N persona facts (question -> answer, in
bench/teach_facts.py), one corrected reply per conversation, fine-tuned with the defaults. It
prints taught recall (the key words of the answer in the precise preset's reply, each question
asked in a new conversation) with the memory off and on, for the questions as taught, typed
again ("so what is your name") and put in other words; the memory's false matches on unrelated
chitchat turns; original-corpus perplexity before and after; wall time.

    python bench/finetune.py --teach 24 [--memory-only] [--finetune-args "--epochs 30"]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench._machine import describe
from bench.teach_facts import FACTS, measure_teaching
from chatapp.finetune.events import decode_event
from chatapp.store import Store
from engine.checkpoint import save_checkpoint
from engine.config import ModelConfig, preset
from engine.data import read_chitchat, split_of
from engine.default_model import default_model_dir
from engine.errors import CheckpointError
from engine.model import Seq2Seq
from engine.progress import DoneEvent
from engine.tokenizer import Tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 300
RANDOM_MODEL = "random-init small (resources/model is missing)"


def random_small_model(folder: Path, turns: list[str]) -> Path:
    """A `small` model with random weights (what exists before any training)."""
    config = preset("small")
    tokenizer = Tokenizer.train(turns, vocab_size=config.vocab_size)
    config = ModelConfig.from_dict({**config.to_dict(), "vocab_size": tokenizer.vocab_size})
    torch.manual_seed(0)
    return save_checkpoint(
        folder / "random-small", model=Seq2Seq(config), tokenizer=tokenizer,
        record={"corpus": "chitchat"},
    )  # fmt: skip


def seed_store(path: Path, conversations: list[tuple[str, ...]], pairs: int) -> dict[str, int]:
    """`pairs` saved pairs from up to two exchanges per conversation (its first four turns)."""
    saved = 0
    with Store.open(path) as store:
        for turns in conversations:
            conversation = store.create_conversation()
            for user_turn, real_reply in zip(turns[0:4:2], turns[1:4:2]):
                if saved == pairs:
                    break
                store.add_user_turn(conversation.id, user_turn)
                if saved % 4 == 3:
                    store.rate(store.add_bot_reply(conversation.id, real_reply).id, 1)
                else:
                    reply = store.add_bot_reply(conversation.id, "i am not sure what you mean.")
                    store.correct(reply.id, real_reply)
                saved += 1
            if saved == pairs:
                break
        return store.training_pair_counts()


def run_finetune(argv: list[str], env: dict[str, str]) -> tuple[float, list[dict[str, Any]], str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "main.py"), *argv],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0:
        raise SystemExit(f"finetune failed ({result.returncode}): {result.stderr[-3000:]}")
    return seconds, events, result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nice", type=int, default=10, help="as the app runs it (0: not)")
    parser.add_argument("--model", help="model to start from (default: the shipped model)")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--replay", type=float, default=0.5)
    parser.add_argument("--teach", type=int, help="teach N persona facts (see the docstring)")
    parser.add_argument("--memory-only", action="store_true", help="--teach without fine-tuning")
    parser.add_argument("--finetune-args", default="", help="extra `main.py finetune` options")
    parser.add_argument(
        "--unrelated", type=int, default=2000, help="chitchat turns for false matches"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, (os.cpu_count() or 2) - 1),
        help="OMP_NUM_THREADS for the fine-tune process (default: as the app sets it)",
    )
    args = parser.parse_args()
    if args.teach:
        if not 1 <= args.teach <= len(FACTS):
            parser.error(f"--teach takes 1 to {len(FACTS)} facts")
        return teach(args)

    conversations = [
        conversation.turns
        for conversation in read_chitchat()
        if split_of(conversation.key) == "test" and len(conversation.turns) >= 2
    ]
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as temporary:
        folder = Path(temporary)
        if args.model:
            model, model_kind = Path(args.model), "given"
        else:
            try:
                model, model_kind = default_model_dir(), "shipped resources/model"
            except CheckpointError:
                texts = [turn for turns in conversations for turn in turns]
                model, model_kind = random_small_model(folder, texts), RANDOM_MODEL
        counts = seed_store(folder / "conversations.db", conversations, args.pairs)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        argv = [
            "finetune", "--db", str(folder / "conversations.db"), "--data-dir", str(folder),
            "--model", str(model), "--replay", str(args.replay), "--device", "cpu",
            "--progress", "json", "--nice", str(args.nice),
        ]  # fmt: skip
        seconds, events, _ = run_finetune(argv, env)
    done = events[-1]
    end = next(event for event in events if event["event"] == "end")
    typed = decode_event(done)
    assert isinstance(typed, DoneEvent)
    before, after = typed.before.stored(), typed.after.stored()  # flat: heldout_perplexity, …
    print(
        json.dumps(
            {
                "benchmark": "finetune",
                "model": model_kind,
                "model_dir": None if model_kind == RANDOM_MODEL else str(model),
                "pairs": dict(typed.data.counts.pairs),
                "pairs_available": counts,
                "train_pairs": typed.data.counts.train_pairs,
                "heldout_pairs": typed.data.counts.heldout_pairs,
                "replay_examples": typed.data.counts.replay_examples,
                "replay_corpus": typed.data.counts.replay_corpus,
                "seconds": round(seconds, 1),
                "train_seconds": round(end["train_seconds"], 1),
                "steps": end["steps"],
                "epochs": end["epochs_completed"],
                "stopped_by": end["stopped_by"],
                "under_5_minutes": seconds < TARGET_SECONDS,
                "heldout_perplexity_before": round(before["heldout_perplexity"], 2),
                "heldout_perplexity_after": round(after["heldout_perplexity"], 2),
                "valid_perplexity_before": round(before["valid_perplexity"], 2),
                "valid_perplexity_after": round(after["valid_perplexity"], 2),
                "comparisons": done["comparisons"],
                "fine_tune_threads": args.threads,
                "machine": describe(),
            },
            indent=2,
            ensure_ascii=False,
        )
    )


def seed_teaching_store(path: Path, facts: int) -> None:
    """One conversation per fact: the question, a vague reply, corrected to the answer."""
    with Store.open(path) as store:
        for question, answer, _ in FACTS[:facts]:
            conversation = store.create_conversation()
            store.add_user_turn(conversation.id, question)
            reply = store.add_bot_reply(conversation.id, "i am not sure what you mean.")
            store.correct(reply.id, answer)


def teach(args: argparse.Namespace) -> None:
    model = Path(args.model) if args.model else default_model_dir()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    torch.set_num_threads(args.threads)
    report: dict[str, Any] = {"benchmark": "finetune --teach", "facts": args.teach}
    with tempfile.TemporaryDirectory(prefix="bench-teach-") as temporary:
        folder = Path(temporary)
        database = folder / "conversations.db"
        seed_teaching_store(database, args.teach)
        tuned = None
        if not args.memory_only:
            argv = [
                "finetune", "--db", str(database), "--data-dir", str(folder),
                "--model", str(model), "--device", "cpu", "--progress", "json",
                "--nice", str(args.nice), "--out", str(folder / "taught"),
                *args.finetune_args.split(),
            ]  # fmt: skip
            seconds, events, _ = run_finetune(argv, env)
            done = decode_event(events[-1])
            assert isinstance(done, DoneEvent)
            end = next(event for event in events if event["event"] == "end")
            before, after = done.before.valid, done.after.valid
            report.update(
                {
                    "finetune_seconds": round(seconds, 1),
                    "under_5_minutes": seconds < TARGET_SECONDS,
                    "train_seconds": round(end["train_seconds"], 1),
                    "epochs": end["epochs_completed"],
                    "chosen_epoch": end.get("chosen_epoch"),
                    "chosen_mix": end.get("chosen_mix"),
                    "steps": end["steps"],
                    "taught_recall_reported": done.after.taught_recall,
                    "base_valid_perplexity": round(before.perplexity, 3) if before else None,
                    "valid_perplexity": round(after.perplexity, 3) if after else None,
                    "valid_perplexity_change": done.forgetting and round(done.forgetting, 4),
                    "forgetting_flag": done.forgetting_flag,
                    "train_pairs": done.data.counts.train_pairs,
                    "replay_examples": done.data.counts.replay_examples,
                }
            )
            tuned = folder / "taught"
        with Store.open(database) as store:
            corrections = store.corrections()
        report.update(
            measure_teaching(model, tuned, corrections, facts=args.teach, unrelated=args.unrelated)
        )
    report["fine_tune_threads"] = args.threads
    report["finetune_args"] = args.finetune_args
    report["machine"] = describe()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
