"""Blind rating of replies, sensible and specific (SSA, Adiwardana et al. 2020): sheet and score.

`make` answers each single-turn prompt under every setting, each in a fresh conversation
(sampling seeded with the prompt's index, as `eval` does), mixes in replies people wrote,
shuffles them with a fixed seed, and writes two files: `sheet.tsv`, what the rater sees
(`index<TAB>prompt<TAB>=> reply`, nothing else), and `key.json`, what each line is (its source,
setting, decoding and the reply's provenance). Give the rater only the sheet.

    python bench/rating_sheet.py make --out runs/rating \\
        --prompts bench/data/everyday_heldout.txt --human-from-test 48 \\
        --setting default=preset:balanced \\
        --setting beam5='{"strategy": "beam", "beam_size": 5, "min_length": 2}' \\
        --setting lowmmi='{"preset": "balanced", "mmi_weight": 3}'

A setting is NAME=preset:PRESET or NAME=JSON, a JSON object of decoding settings over the
defaults (or over a preset named by its "preset" key); any strategy `DecodeConfig` knows will do.
A setting of `GENERATED` goes by its name alone (`--setting mmi-beam-l3`), and `--setting
generated` stands for all of them: the model's own replies under each decoding that issue 23
compares (MMI over beam search's n-best against MMI over samples, the fluency floor).
Prompts come from a file (one a line) or `--test-prompts N` (N single-turn prompts drawn from
the corpus's test split). Replies people wrote come from `--human FILE` (JSON lines with
"prompt" and "reply") and `--human-from-test N`: N real (turn, next turn) pairs of the test
split, drawn in the same fixed order as `--test-prompts`, so the two together give the real
next turns of the same prompts.

The rater writes one line per sheet line, `index sensible specific` (0 or 1 each; specific is 0
whenever sensible is 0; blank lines and # comments are ignored). Then, un-blinded:

    python bench/rating_sheet.py score --ratings ratings.txt --key runs/rating/key.json

prints, per source (each setting, "human" for --human, "human-test" for --human-from-test), the
sensible rate, specific rate, SSA (their mean) and count. At 40 replies a rate is good to ±0.07.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatapp.atomic import atomic_text_file
from engine.decoding.config import PRESETS, DecodeConfig
from engine.errors import EngineError

SHEET, KEY = "sheet.tsv", "key.json"
HUMAN, HUMAN_TEST = "human", "human-test"  # the sources of replies people wrote
# Reply fields that are the reply itself or per-token detail, not where it came from.
NOT_PROVENANCE = frozenset(
    {"text", "tokens", "alternatives", "config", "context_pieces", "reply_pieces", "attention"}
)


# The model's own replies, by name: the decodings compared for sense (issue 23 item 4). Rerank
# over samples is the precise preset's (32 samples) at another λ; MMI over the beam reranks a
# beam of as many (its whole n-best) under the model-only preset's beam knobs; a floor of 0.5
# nat per token drops candidates the model finds far less likely than its likeliest (on the 48
# everyday prompts it changed 19 picks of rerank λ 3 and 1 of MMI over the beam; 1 nat changed
# 1 and 0).
_MMI_BEAM = ('"strategy": "rerank", "candidate_search": "beam", "candidates": 32, '
             '"min_length": 2, "no_repeat_ngram_size": 3, "repetition_penalty": 1.0')  # fmt: skip
GENERATED = {
    "model-only": "preset:model-only",
    # Beam search alone, as the model-only preset (blind-rated 0.40 sensible in issue 22).
    "beam-5": '{"strategy": "beam", "beam_size": 5, "n_best": 5, "no_repeat_ngram_size": 3, '
    '"min_length": 2, "repetition_penalty": 1.0}',
    "rerank-l1": '{"preset": "precise", "mmi_weight": 1}',
    "rerank-l3": '{"preset": "precise", "mmi_weight": 3}',
    "mmi-beam-l1": "{" + _MMI_BEAM + ', "mmi_weight": 1}',
    "mmi-beam-l3": "{" + _MMI_BEAM + ', "mmi_weight": 3}',
    "sample-t0.7": '{"strategy": "sample", "temperature": 0.7}',
    "rerank-l3-floor0.5": '{"preset": "precise", "mmi_weight": 3, "fluency_floor": 0.5}',
    "mmi-beam-l3-floor0.5": "{" + _MMI_BEAM + ', "mmi_weight": 3, "fluency_floor": 0.5}',
}
ALL_GENERATED = "generated"  # --setting generated: every one of GENERATED


class SheetError(Exception):
    """Bad input for `make` or `score`: one line for the user, nothing written."""


def one_line(text: str) -> str:
    """Tabs and line breaks would break the sheet's columns."""
    return " ".join(str(text).split())


def parse_settings(texts: Sequence[str]) -> list[tuple[str, DecodeConfig]]:
    """Each --setting in order, `generated` standing for all of `GENERATED`; names unique."""
    names = [
        named for text in texts
        for named in (GENERATED if text.strip() == ALL_GENERATED else [text])
    ]  # fmt: skip
    settings = [parse_setting(text) for text in names]
    if len({name for name, _ in settings}) < len(settings):
        raise SheetError("two --setting share a name")
    return settings


def parse_setting(text: str) -> tuple[str, DecodeConfig]:
    if "=" not in text and text.strip() in GENERATED:
        text = f"{text.strip()}={GENERATED[text.strip()]}"
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise SheetError(
            f"--setting {text!r}: write NAME=preset:PRESET, NAME=JSON or one of "
            f"{', '.join([*GENERATED, ALL_GENERATED])}"
        )
    if name in (HUMAN, HUMAN_TEST):
        raise SheetError(f"--setting {name!r}: that name is kept for replies people wrote")
    spec = spec.strip()
    try:
        if spec.startswith("preset:"):
            return name, _preset(spec.removeprefix("preset:"))
        try:
            knobs = json.loads(spec)
        except json.JSONDecodeError as error:
            raise SheetError(f"--setting {name}: not preset:NAME nor JSON ({error.msg})") from None
        if not isinstance(knobs, dict):
            raise SheetError(f"--setting {name}: the JSON must be an object of decoding settings")
        base = _preset(knobs.pop("preset")) if "preset" in knobs else DecodeConfig()
        return name, DecodeConfig.from_dict({**base.to_dict(), **knobs})
    except EngineError as error:
        raise SheetError(f"--setting {name}: {error}") from None


def _preset(name: object) -> DecodeConfig:
    if name not in PRESETS:
        raise SheetError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]  # type: ignore[index]


def read_prompts(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SheetError(f"cannot read the prompts file {path}: {error}") from None
    prompts = [one_line(line) for line in lines if line.strip()]
    if not prompts:
        raise SheetError(f"{path} holds no prompt (one a line)")
    return prompts


def read_human(path: Path) -> list[tuple[str, str]]:
    """(prompt, reply) pairs from JSON lines {"prompt": ..., "reply": ...}."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SheetError(f"cannot read the human replies {path}: {error}") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SheetError(f"{path}:{number}: not JSON ({error.msg})") from None
        texts = [record.get(field) if isinstance(record, dict) else None
                 for field in ("prompt", "reply")]  # fmt: skip
        if not all(isinstance(text, str) and text.strip() for text in texts):
            raise SheetError(f'{path}:{number}: needs a non-empty "prompt" and "reply"')
        pairs.append((one_line(texts[0]), one_line(texts[1])))
    return pairs


def draw_test_pairs(corpus: str, count: int) -> list[tuple[str, str, str]]:
    """`count` (turn, next turn, conversation) of the corpus's test split, always the same
    ones in the same order (a shuffle with a fixed seed), so that the first N of a larger draw
    are the N of a smaller one."""
    from engine.pipeline import load_splits

    try:
        examples = load_splits(corpus, context_turns=1).test
    except EngineError as error:
        raise SheetError(str(error)) from None
    pairs = [
        (one_line(example.context[-1]), one_line(example.response), example.conversation)
        for example in examples
        if example.context and example.context[-1].strip() and example.response.strip()
    ]
    if len(pairs) < count:
        raise SheetError(f"the test split of {corpus} has {len(pairs)} turn pairs, not {count}")
    order = list(range(len(pairs)))
    random.Random(0).shuffle(order)
    return [pairs[i] for i in order[:count]]


def provenance(reply: Any) -> dict[str, Any]:
    """Where a reply came from: the `Reply` fields beyond its text and per-token detail (the
    seed, the MMI scorer, a matched correction, and whatever a newer engine adds), and the
    chosen candidate's scores when the n-best list starts with it."""
    found = {
        field.name: getattr(reply, field.name)
        for field in dataclasses.fields(reply)
        if field.name not in NOT_PROVENANCE
    }
    if reply.alternatives and reply.alternatives[0].text == reply.text:
        found["candidate"] = reply.alternatives[0]
    return json.loads(json.dumps(_plain(found), default=str))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def model_items(
    bot: Any, prompts: Sequence[str], settings: Sequence[tuple[str, DecodeConfig]]
) -> list[dict[str, Any]]:
    items = []
    for name, config in settings:
        for index, prompt in enumerate(prompts):
            # Seeded by the prompt's index (as `eval` does): a sheet can be made again.
            seeded = config.replace(seed=index) if config.seed is None else config
            try:
                reply = bot.reply([prompt], seeded)
            except EngineError as error:
                raise SheetError(f"setting {name}, prompt {prompt!r}: {error}") from None
            items.append({
                "source": "model", "group": name, "setting": name, "prompt_index": index,
                "prompt": prompt, "reply": one_line(reply.text), "provenance": provenance(reply),
            })  # fmt: skip
        print(f"{name}: {len(prompts)} replies", file=sys.stderr)
    return items


def human_items(
    from_file: Sequence[tuple[str, str]], from_test: Sequence[tuple[str, str, str]], corpus: str
) -> list[dict[str, Any]]:
    items = [
        {"source": "human", "group": HUMAN, "setting": None, "prompt": prompt, "reply": reply,
         "provenance": {"human_entry": number}}  # the n-th pair of --human
        for number, (prompt, reply) in enumerate(from_file, 1)
    ]  # fmt: skip
    items += [
        {"source": "human", "group": HUMAN_TEST, "setting": None, "prompt": prompt,
         "reply": reply, "provenance": {"corpus": corpus, "split": "test",
                                        "conversation": conversation}}
        for prompt, reply, conversation in from_test
    ]  # fmt: skip
    return items


def write_sheet(out: Path, items: list[dict[str, Any]], header: dict[str, Any], seed: int) -> None:
    """Shuffle with `seed`, number from 1, write the key, then the sheet (each whole or not at
    all)."""
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    out.mkdir(parents=True, exist_ok=True)
    key = {**header, "shuffle_seed": seed,
           "items": {str(index): item for index, item in enumerate(shuffled, 1)}}  # fmt: skip
    with atomic_text_file(out / KEY) as file:
        file.write(json.dumps(key, indent=1, ensure_ascii=False) + "\n")
    with atomic_text_file(out / SHEET) as file:
        for index, item in enumerate(shuffled, 1):
            file.write(f"{index}\t{item['prompt']}\t=> {item['reply']}\n")


def make(args: argparse.Namespace) -> None:
    # Every input is checked before the model loads: a typo should not cost the minutes
    # that the replies take, nor overwrite a sheet someone is rating.
    for name in (SHEET, KEY):
        if (args.out / name).exists():
            raise SheetError(f"{args.out / name} exists: choose another --out (or remove it)")
    settings = parse_settings(args.setting)
    if (args.test_prompts is not None and args.test_prompts < 1) or args.human_from_test < 0:
        raise SheetError("--test-prompts must be >= 1 and --human-from-test >= 0")
    from_file = read_human(args.human) if args.human else []
    wanted = max(args.test_prompts or 0, args.human_from_test)
    drawn = draw_test_pairs(args.corpus, wanted) if wanted else []
    prompts = read_prompts(args.prompts) if args.prompts else [p for p, _, _ in drawn]
    prompts = prompts[: args.test_prompts] if args.test_prompts else prompts
    from engine.chatbot import Chatbot

    try:
        bot = Chatbot.load(args.model, device=args.device)
    except EngineError as error:
        raise SheetError(str(error)) from None
    items = model_items(bot, prompts, settings)
    items += human_items(from_file, drawn[: args.human_from_test], args.corpus)
    header = {
        "model": str(bot.model_dir),
        "prompts": str(args.prompts) if args.prompts else f"{args.corpus} test split",
        "settings": {name: config.to_dict() for name, config in settings},
    }
    write_sheet(args.out, items, header, args.seed)
    print(json.dumps({"sheet": str(args.out / SHEET), "key": str(args.out / KEY),
                      "replies": len(items)}))  # fmt: skip


def parse_ratings(text: str) -> dict[int, tuple[int, int]]:
    """`index sensible specific` per line (spaces, tabs or commas between; blank lines and #
    comments ignored) -> {index: (sensible, specific)}."""
    ratings: dict[int, tuple[int, int]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].replace(",", " ").split()
        if not fields:
            continue
        if len(fields) != 3 or not all(field.isdigit() for field in fields):
            raise SheetError(f"line {number}: write 'index sensible specific', not {raw.strip()!r}")
        index, sensible, specific = map(int, fields)
        if sensible not in (0, 1) or specific not in (0, 1):
            raise SheetError(f"line {number}: sensible and specific are 0 or 1 ({raw.strip()!r})")
        if specific and not sensible:
            raise SheetError(
                f"line {number}: reply {index} is rated specific but not sensible; "
                "specific is 0 whenever sensible is 0"
            )
        if index in ratings:
            raise SheetError(f"line {number}: reply {index} is rated a second time")
        ratings[index] = (sensible, specific)
    return ratings


def rates(key: dict[str, Any], ratings: dict[int, tuple[int, int]]) -> dict[str, Any]:
    """Per source (group), in the key's order: sensible and specific rates, SSA, count."""
    items = {int(index): item for index, item in key["items"].items()}
    missing = sorted(set(items) - set(ratings))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise SheetError(f"{len(missing)} of {len(items)} replies are not rated: {shown}")
    unknown = sorted(set(ratings) - set(items))
    if unknown:
        raise SheetError(f"the sheet has no reply {unknown[0]} (it has 1 to {len(items)})")
    groups: dict[str, list[tuple[int, int]]] = {
        name: [] for name in [*key.get("settings", {}), HUMAN, HUMAN_TEST]
    }
    for index, item in sorted(items.items()):
        groups.setdefault(item["group"], []).append(ratings[index])
    result = {}
    for group, rated in groups.items():
        if not rated:
            continue
        sensible = sum(s for s, _ in rated) / len(rated)
        specific = sum(s for _, s in rated) / len(rated)
        ssa = (sensible + specific) / 2
        result[group] = {"sensible": round(sensible, 4), "specific": round(specific, 4),
                         "ssa": round(ssa, 4), "count": len(rated)}  # fmt: skip
    return result


def score(args: argparse.Namespace) -> None:
    try:
        key = json.loads(args.key.read_text(encoding="utf-8"))
        text = args.ratings.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SheetError(f"cannot read the key or the ratings: {error}") from None
    if not isinstance(key, dict) or not isinstance(key.get("items"), dict):
        raise SheetError(f"{args.key} is not a key written by `make`")
    by_source = rates(key, parse_ratings(text))
    print(json.dumps({"ratings": str(args.ratings), "sources": by_source}, indent=2))


def merge(args: argparse.Namespace) -> None:
    """One sheet of the replies of several `make` sheets (other models, other settings),
    shuffled together, so one rater rates them all in one batch. Each model reply keeps its
    sheet's model; a setting name may appear in one sheet only, and people's turns that more
    than one sheet holds are rated once."""
    for name in (SHEET, KEY):
        if (args.out / name).exists():
            raise SheetError(f"{args.out / name} exists: choose another --out (or remove it)")
    items: list[dict[str, Any]] = []
    settings: dict[str, Any] = {}
    models: dict[str, str] = {}
    people: set[tuple[str, str]] = set()
    for folder in args.sheets:
        try:
            key = json.loads((folder / KEY).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise SheetError(f"cannot read {folder / KEY}: {error}") from None
        for name, config in key.get("settings", {}).items():
            if name in settings:
                raise SheetError(f"setting {name!r} is in two sheets: rename one")
            settings[name], models[name] = config, key.get("model", "")
        for item in key["items"].values():
            if item["setting"]:
                items.append({**item, "model": key.get("model", "")})
            elif (item["prompt"], item["reply"]) not in people:  # the same turns in each sheet
                people.add((item["prompt"], item["reply"]))
                items.append(item)
    header = {"model": models, "merged_from": [str(folder) for folder in args.sheets],
              "settings": settings}  # fmt: skip
    write_sheet(args.out, items, header, args.seed)
    print(json.dumps({"sheet": str(args.out / SHEET), "replies": len(items)}))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True)
    sheet = commands.add_parser("make", help="write sheet.tsv and key.json")
    sheet.add_argument("--out", type=Path, required=True, help="folder for the two files")
    prompts = sheet.add_mutually_exclusive_group(required=True)
    prompts.add_argument("--prompts", type=Path, help="one single-turn prompt a line")
    prompts.add_argument("--test-prompts", type=int, metavar="N", help="N test-split turns")
    sheet.add_argument("--setting", action="append", required=True,
                       help="NAME=preset:PRESET, NAME=JSON, a name of GENERATED, or "
                            "'generated' for all of them (repeat)")  # fmt: skip
    sheet.add_argument("--human", type=Path, help='JSON lines {"prompt": ..., "reply": ...}')
    sheet.add_argument("--human-from-test", type=int, default=0, metavar="N",
                       help="N real (turn, next turn) pairs of the test split")  # fmt: skip
    sheet.add_argument("--model", default="resources/model")
    sheet.add_argument("--corpus", default="chitchat", help="for --test-prompts/--human-from-test")
    sheet.add_argument("--device", default="cpu")
    sheet.add_argument("--seed", type=int, default=0, help="of the shuffle")
    merged = commands.add_parser("merge", help="one shuffled sheet of several sheets' replies")
    merged.add_argument("--out", type=Path, required=True, help="folder for the two files")
    merged.add_argument("sheets", type=Path, nargs="+", help="folders written by make")
    merged.add_argument("--seed", type=int, default=0, help="of the shuffle")
    rated = commands.add_parser("score", help="rates per source from a filled-in ratings file")
    rated.add_argument("--ratings", type=Path, required=True)
    rated.add_argument("--key", type=Path, required=True)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        {"make": make, "merge": merge, "score": score}[args.command](args)
    except SheetError as error:
        print(f"rating_sheet: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
