"""Write the measured part of resources/model/MODEL_CARD.md from bench/model_card.py's JSON,
and the rows of its training-runs table from bench/run_record.py's records.

python bench/render_model_card.py card.json [--compare compare.json] > tables.md
python bench/render_model_card.py --run run.json [--run ...] > rows.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def preset_table(card: dict) -> list[str]:
    lines = [
        _row(
            [
                "preset",
                "distinct-1",
                "distinct-2",
                "avg. words",
                "generic-reply rate",
                "empty",
                "ms / reply (median, fp32)",
                "ms / reply (int8)",
            ]
        ),
        _row(["---"] * 8),
    ]
    for name, metrics in card["presets"].items():
        lines.append(
            _row([
                name,
                f"{metrics['distinct_1']:.3f}",
                f"{metrics['distinct_2']:.3f}",
                f"{metrics['avg_reply_words']:.1f}",
                f"{metrics['generic_reply_rate']:.1%}",
                metrics["empty_replies"],
                f"{card['latency_ms_per_reply'][name]:.0f}",
                f"{card['int8']['latency_ms_per_reply'][name]:.0f}",
            ])
        )  # fmt: skip
    return lines


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _judge_cells(scores: dict) -> list[str]:
    return [
        f"{scores['relevance']:.3f}",
        _share(scores["specificity"]),
        _share(scores["hits_at_5"]),
        f"{scores['repeated_word_rate']:.1%}",
        f"{scores['copy_rate']:.1%}",
    ]


def judge_table(card: dict) -> list[str]:
    """Relevance and specificity per preset (from `model_card.py --judge`), and the real next
    turns scored the same way; empty when the card was measured without the judge."""
    judged = {name: m["judge"] for name, m in card["presets"].items() if "judge" in m}
    if not judged:
        return []
    human = next(iter(judged.values()))["human"]
    lines = [
        f"Relevance judge (all-MiniLM-L6-v2) over the same {human['prompts']:,} prompts (the last "
        f"context turn): relevance is the mean cosine of prompt and reply; specificity (hits@1) "
        f"and hits@5 rank each reply against the {human['set_size']} prompts of its set "
        f"({human['ranked_prompts']:,} prompts in interleaved sets: set s of S holds prompts s, "
        "s + S, s + 2S, …, so that a set does not hold the next turns of one conversation). The "
        "guards: replies that say one content word 3+ times, and replies that copy 4+ "
        "consecutive words of the prompt.",
        "",
        _row(
            [
                "replies",
                "relevance",
                "specificity (hits@1)",
                "hits@5",
                "repeated word",
                "copies prompt",
            ]
        ),
        _row(["---"] * 6),
    ]
    lines += [_row([name, *_judge_cells(scores["model"])]) for name, scores in judged.items()]
    lines.append(_row(["real next turns (human reference)", *_judge_cells(human)]))
    return lines


def compare_table(card: dict, compare: dict) -> list[str]:
    lines = [
        _row(
            [
                "model",
                "test perplexity per piece",
                "per word",
                "per word, <unk> charged",
                "<unk> rate",
                "distinct-2 (balanced)",
                "generic-reply rate (balanced)",
                "avg. words",
            ]
        ),
        _row(["---"] * 8),
    ]
    # Measured with --judge: relevance and specificity of "balanced" as two more columns.
    judged = all("judge" in row["balanced"] for row in compare.values())
    if judged:
        lines[0] += " relevance (balanced) | specificity (balanced) |"
        lines[1] = _row(["---"] * 10)
    for name, row in compare.items():
        judge = _judge_cells(row["balanced"]["judge"]["model"])[:2] if judged else []
        lines.append(
            _row([
                name,
                f"{row['test']['perplexity']:.2f}",
                f"{row['test']['word_perplexity']:.2f}",
                f"{row['test']['unk_penalized_word_perplexity']:.2f}",
                f"{row['test']['unk_rate']:.1%}",
                f"{row['balanced']['distinct_2']:.3f}",
                f"{row['balanced']['generic_reply_rate']:.1%}",
                f"{row['balanced']['avg_reply_words']:.1f}",
                *judge,
            ])
        )  # fmt: skip
    return lines


def samples(card: dict) -> list[str]:
    lines = []
    for name, metrics in card["presets"].items():
        lines += [f"### {name}", ""]
        for number, sample in enumerate(metrics.get("samples", [])[:20], start=1):
            context = " / ".join(sample["context"][-2:])
            lines.append(f"{number}. **Context:** {context}  ")
            lines.append(f"   **Reply:** {sample['reply']}")
        lines.append("")
    return lines


RUN_COLUMNS = [
    "date", "machine", "torch", "model (parameters)", "corpus", "steps", "training time",
    "pieces / s", "best valid perplexity", "test perplexity (per piece / per word)",
    "what changed",
]  # fmt: skip


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def run_row(run: dict) -> str:
    """One row of the card's training-runs table from a bench/run_record.py record."""
    processes = run.get("processes") or 1
    machine = f"{run.get('machine', '—')} ({run.get('device', '—')}, {processes} process"
    machine += "es)" if processes > 1 else ")"
    seconds = run.get("train_seconds")
    test = run.get("test") or {}
    tokenizer = run.get("tokenizer_from")
    changed = run.get("note") or (f"on {tokenizer}'s tokenizer" if tokenizer else "")
    return _row([
        run.get("date", "—"),
        machine,
        run.get("torch", "—"),
        f"{run['preset']}: {run['shape']} ({run['parameters']:,})",
        run.get("corpus", "—"),
        _number(run.get("steps"), ","),
        "—" if seconds is None else f"{seconds:,.0f} s ({seconds / 60:.1f} min)",
        _number(run.get("tokens_per_second"), ",.0f"),
        _number(run.get("valid_perplexity"), ".2f"),
        f"{_number(test.get('perplexity'), '.2f')} / {_number(test.get('word_perplexity'), '.2f')}",
        changed or "—",
    ])  # fmt: skip


def runs_table(runs: list[dict]) -> list[str]:
    return [_row(RUN_COLUMNS), _row(["---"] * len(RUN_COLUMNS)), *map(run_row, runs)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("card", nargs="?")
    parser.add_argument("--compare")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN.json",
        help="a training run's record (bench/run_record.py): its table row",
    )
    args = parser.parse_args()
    if args.run:
        runs = [json.loads(Path(path).read_text(encoding="utf-8")) for path in args.run]
        sys.stdout.write("\n".join(runs_table(runs)) + "\n")
        return 0
    if args.card is None:
        parser.error("give card.json, or --run RUN.json")
    card = json.loads(Path(args.card).read_text(encoding="utf-8"))
    out = ["## Results on the test split", ""]
    test = card["test"]
    out.append(
        f"Test perplexity {test['perplexity']:.2f} per piece ({test['word_perplexity']:.2f} per "
        f"word; {test['pieces_per_word']:.2f} pieces a word) over {test['examples']:,} examples "
        f"and {test['tokens']:,} target pieces."
    )
    prompts = next(iter(card["presets"].values()))["prompts"]
    out += ["", f"Generation metrics over the first {prompts:,} test prompts (sampling seeded "
            "with the prompt's index):", ""]  # fmt: skip
    out += preset_table(card)
    if judging := judge_table(card):
        out += ["", *judging]
    int8, fp16 = card["int8"]["test"]["perplexity"], card["stored_float16"]["test_perplexity"]
    out += [
        "",
        f"int8 dynamic quantization: test perplexity {int8:.2f} "
        f"({(int8 / test['perplexity'] - 1):+.2%}).",
        f"Weights stored as float16: {card['stored_float16']['size_bytes'] / 1e6:.1f} MB, test "
        f"perplexity {fp16:.4f} vs {card['stored_float32']['test_perplexity']:.4f} in float32 "
        f"({card['stored_float32']['size_bytes'] / 1e6:.1f} MB).",
        "",
    ]
    if args.compare:
        compare = json.loads(Path(args.compare).read_text(encoding="utf-8"))["compare"]
        out += ["## Against the classic baseline, same budget", ""]
        out += [*compare_table(card, compare), ""]
    out += ["## Sample exchanges (test prompts)", "", *samples(card)]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
