"""Markdown tables from `bench/decoding_sweep.py` JSON files (for MODEL_CARD.md).

    python bench/render_sweep.py runs/final_test_rerank.json runs/final_test_plain.json \\
        --name balanced="balanced (rerank)" ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = (
    ("relevance", "relevance", "{:.3f}"),
    ("specificity", "specificity (hits@1 of 40)", "{:.3f}"),
    ("hits_at_5", "hits@5", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"),
    ("generic_reply_rate", "generic-reply rate", "{:.1%}"),
    ("uncertain_reply_rate", '"I don\'t know" rate', "{:.1%}"),
    ("repeated_word_rate", "repeats a word 3+", "{:.1%}"),
    ("copy_rate", "copies 4+ words", "{:.1%}"),
    ("avg_reply_words", "avg. words", "{:.1f}"),
    ("empty_replies", "empty", "{:.0f}"),
)


def cell(row: dict, key: str, form: str) -> str:
    value = row.get(key)
    return "—" if value is None else form.format(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--name", action="append", default=[], metavar="SETTING=LABEL")
    args = parser.parse_args()
    labels = dict(item.rsplit("=", 1) for item in args.name)  # settings hold "=", labels not
    header = ["setting", *(title for _, title, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    human = None
    for path in args.files:
        data = json.loads(path.read_text(encoding="utf-8"))
        human = data.get("human") or human
        for name, row in data["settings"].items():
            cells = [cell(row, key, form) for key, _, form in COLUMNS]
            lines.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")
    if human:
        cells = [cell(human, key, form) for key, _, form in COLUMNS]
        lines.append("| human reference (the real next turns) | " + " | ".join(cells) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
