"""One training run's record for the model card: machine, torch, time, steps, perplexities.

Reads what a run left behind (the train command's `--progress json` log, the model folder it
wrote, `main.py eval`'s JSON and optionally a decode-latency JSON and the machine's description)
and writes one JSON object; `bench/render_model_card.py --run FILE` turns records into the rows
of the card's training-runs table. Needs no torch: bench/gpu_check.sh calls it last, after
the model is written. Prints the record.

    python bench/run_record.py --log train.log --model DIR --eval eval.json --preset base \\
        [--machine machine.json] [--decode decode.json] [--command "..."] [--note "..."] \\
        --out run.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


class RecordError(Exception):
    """What a run left behind cannot be read into a record (said in one line)."""


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RecordError(f"cannot read the {what} {path}: {error}") from None
    if not isinstance(data, dict):
        raise RecordError(f"the {what} {path} is not a JSON object")
    return data


def log_events(path: Path) -> dict[str, dict[str, Any]]:
    """The last event of each kind in a `--progress json` log. Lines that are not JSON objects
    (warnings on stderr, a traceback) are passed over: the log holds both streams."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise RecordError(f"cannot read the training log {path}: {error}") from None
    events: dict[str, dict[str, Any]] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events[event["event"]] = event
    return events


def shape(model: dict[str, Any]) -> str:
    """The architecture in a few words, e.g. "2 × 512 GRU, 256-d embeddings, 8,000 pieces"."""
    return (
        f"{model['num_layers']} × {model['hidden_size']} GRU, {model['embedding_dim']}-d "
        f"embeddings, {model['vocab_size']:,} pieces"
    )


def make_record(
    *,
    log: Path,
    model_dir: Path,
    evaluation: Path,
    preset: str,
    machine: Path | None = None,
    decode: Path | None = None,
    command: str = "",
    note: str = "",
) -> dict[str, Any]:
    events = log_events(log)
    if "end" not in events:
        raise RecordError(f"{log} has no end event: the training did not finish")
    end, start = events["end"], events.get("start", {})
    config = read_json(model_dir / "config.json", "model config")
    if "parameters" not in config or "model" not in config:
        raise RecordError(f"{model_dir} does not hold a model written by `main.py train`")
    training = config.get("training", {})
    tested = read_json(evaluation, "evaluation")
    return {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        **(read_json(machine, "machine description") if machine else {}),
        "processes": start.get("world_size") or 1,
        "preset": preset,
        "parameters": config["parameters"],
        "shape": shape(config["model"]),
        "corpus": training.get("corpus"),
        "tokenizer_from": training.get("tokenizer_from"),
        "steps": end.get("steps"),
        "epochs": end.get("epochs_completed"),
        "train_seconds": end.get("train_seconds"),
        "tokens_per_second": end.get("tokens_per_second"),
        "stopped_by": end.get("stopped_by"),
        "valid_perplexity": end.get("best_valid_perplexity"),
        "test": {
            key: tested.get(key)
            for key in ("corpus", "split", "examples", "perplexity", "word_perplexity")
        },
        "decode_ms": read_json(decode, "decode latency") if decode else None,
        "command": command,
        "note": note,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, required=True, help="train --progress json output")
    parser.add_argument("--model", type=Path, required=True, help="the model folder written")
    parser.add_argument("--eval", type=Path, required=True, help="main.py eval's JSON")
    parser.add_argument("--preset", required=True)
    parser.add_argument("--machine", type=Path, help="JSON: machine, torch, cuda, gpus")
    parser.add_argument("--decode", type=Path, help="JSON: milliseconds a reply per strategy")
    parser.add_argument("--command", default="", help="how the model was trained")
    parser.add_argument("--note", default="", help="what this run changed (the card's words)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        record = make_record(log=args.log, model_dir=args.model, evaluation=args.eval,
                             preset=args.preset, machine=args.machine, decode=args.decode,
                             command=args.command, note=args.note)  # fmt: skip
    except RecordError as error:
        print(f"run_record.py: error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(record, indent=2, ensure_ascii=False)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
