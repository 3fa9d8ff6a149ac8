"""Write the measured part of resources/model/MODEL_CARD.md from bench/model_card.py's JSON.

python bench/render_model_card.py card.json [--compare compare.json] > tables.md
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
    for name, row in compare.items():
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("card")
    parser.add_argument("--compare")
    args = parser.parse_args()
    card = json.loads(Path(args.card).read_text(encoding="utf-8"))
    out = ["## Results on the test split", ""]
    test = card["test"]
    out.append(
        f"Test perplexity {test['perplexity']:.2f} per piece ({test['word_perplexity']:.2f} per "
        f"word; {test['pieces_per_word']:.2f} pieces a word) over {test['examples']:,} examples "
        f"and {test['tokens']:,} target pieces."
    )
    out += ["", f"Generation metrics over the first {card['presets']['balanced']['prompts']:,} "
            "test prompts (sampling seeded with the prompt's index):", ""]  # fmt: skip
    out += preset_table(card)
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
