"""Package trained checkpoints as the shipped default model (`resources/model/`).

The forward (chat) model, if given, goes to OUT with float16 weights and no optimizer state;
a backward model, if given, to OUT/backward (what `rerank` scores with). Each keeps its
training record, with the commands that made it appended to `commands`. Files beside them
(MODEL_CARD.md) stay.
Prints JSON: the sizes written.

    python bench/ship_model.py --forward runs/fwd --backward runs/bwd --out resources/model \\
        --command "OMP_NUM_THREADS=1 python main.py train ..." --backward-command "..."
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from engine.chatbot import BACKWARD_DIR
from engine.checkpoint import load_checkpoint, save_checkpoint


def ship(source: Path, target: Path, commands: list[str], direction: str) -> int:
    checkpoint = load_checkpoint(source)
    if checkpoint.config.direction != direction:
        raise SystemExit(f"{source} is a {checkpoint.config.direction} model, not {direction}")
    record = dict(checkpoint.record)
    record["commands"] = [*record.get("commands", []), *commands]
    save_checkpoint(
        target,
        model=checkpoint.model,
        tokenizer=checkpoint.tokenizer,
        record=record,
        weights_dtype=torch.float16,
    )
    return sum(path.stat().st_size for path in target.iterdir() if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forward", type=Path, help="the chat model (default: keep OUT's)")
    parser.add_argument("--backward", type=Path)
    parser.add_argument("--out", type=Path, default=Path("resources/model"))
    parser.add_argument("--command", action="append", default=[], help="how --forward was made")
    parser.add_argument("--backward-command", action="append", default=[])
    args = parser.parse_args()
    sizes = {}
    if args.forward is not None:
        sizes["forward_bytes"] = ship(args.forward, args.out, args.command, "forward")
    if args.backward is not None:
        sizes["backward_bytes"] = ship(
            args.backward, args.out / BACKWARD_DIR, args.backward_command, "backward"
        )
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(json.dumps({"out": str(args.out), **sizes, "folder_bytes": total}, indent=2))


if __name__ == "__main__":
    main()
