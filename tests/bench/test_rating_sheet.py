"""bench/rating_sheet.py: a blind sheet made with the tiny model and scored back, and the
ratings parser (a property test: whatever spacing and comments, the ratings come back)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "rating_sheet.py"
_spec = importlib.util.spec_from_file_location("rating_sheet", SCRIPT)
assert _spec is not None and _spec.loader is not None
rating_sheet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rating_sheet)
SheetError = rating_sheet.SheetError
parse_ratings = rating_sheet.parse_ratings

PROMPTS = ["hello", "what is your name?", "how old are you?"]
GREEDY = 'greedy={"strategy": "greedy"}'
SAMPLE = 'warm={"preset": "creative", "strategy": "sample", "temperature": 1.2}'
LINE = re.compile(r"(\d+)\t([^\t\n]+)\t=> ([^\t\n]*)")


def make(tmp_path: Path, model: Path, *extra: str, out: str = "sheet") -> Path:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n\n", encoding="utf-8")
    human = tmp_path / "human.jsonl"
    human.write_text(
        '{"prompt": "hello", "reply": "hey!\\thow are you?"}\n'
        '{"prompt": "what is\\nyour name?", "reply": "I am Sam"}\n',
        encoding="utf-8",
    )
    args = ["make", "--out", str(tmp_path / out), "--model", str(model), "--human", str(human)]
    args += extra or ["--prompts", str(prompts), "--setting", GREEDY, "--setting", SAMPLE]
    assert rating_sheet.main(args) == 0
    return tmp_path / out


def test_a_sheet_shows_only_index_prompt_and_reply_and_the_key_says_the_rest(
    tmp_path: Path, tiny_model_dir: Path, tiny_bot
) -> None:
    folder = make(tmp_path, tiny_model_dir)
    lines = (folder / "sheet.tsv").read_text(encoding="utf-8").splitlines()
    rows = [LINE.fullmatch(line) for line in lines]
    assert all(rows) and len(rows) == 3 * 2 + 2  # 3 prompts x 2 settings + 2 human turns
    assert [int(row[1]) for row in rows] == list(range(1, 9))
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    items = key["items"]
    for row in rows:
        item = items[row[1]]
        assert (row[2], row[3]) == (item["prompt"], item["reply"])
    groups = [items[str(i)]["group"] for i in range(1, 9)]
    assert sorted(groups) == ["greedy"] * 3 + ["human"] * 2 + ["warm"] * 3
    assert groups != sorted(groups, key=["greedy", "warm", "human"].index)  # shuffled
    assert items[str(groups.index("human") + 1)]["reply"] in ("hey! how are you?", "I am Sam")
    greedy = next(item for item in items.values() if item["group"] == "greedy")
    assert greedy["reply"] == tiny_bot.reply([greedy["prompt"]], rating_sheet.DecodeConfig(
        strategy="greedy")).text  # fmt: skip
    warm = next(item for item in items.values() if item["group"] == "warm")
    assert warm["provenance"]["seed"] == warm["prompt_index"]  # seeded by the prompt's index
    assert key["settings"]["warm"]["top_k"] == 0  # the creative preset's, under the overrides
    assert key["settings"]["warm"]["strategy"] == "sample"


def test_the_same_seed_makes_the_same_sheet_and_another_seed_another_order(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    first = make(tmp_path, tiny_model_dir, out="a")
    again = make(tmp_path, tiny_model_dir, out="b")
    other = make(tmp_path, tiny_model_dir, "--prompts", str(tmp_path / "prompts.txt"),
                 "--setting", GREEDY, "--setting", SAMPLE, "--seed", "7", out="c")  # fmt: skip
    sheet = (first / "sheet.tsv").read_text(encoding="utf-8")
    assert (again / "sheet.tsv").read_text(encoding="utf-8") == sheet
    reordered = (other / "sheet.tsv").read_text(encoding="utf-8")
    assert reordered != sheet
    replies = sorted(line.split("\t", 1)[1] for line in sheet.splitlines())
    assert sorted(line.split("\t", 1)[1] for line in reordered.splitlines()) == replies


def test_scores_per_source_from_a_filled_in_sheet(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make(tmp_path, tiny_model_dir)
    items = json.loads((folder / "key.json").read_text(encoding="utf-8"))["items"]
    capsys.readouterr()
    # The rater: people's turns sensible and specific, greedy sensible only, warm neither.
    marks = {"human": "1 1", "greedy": "1 0", "warm": "0 0"}
    ratings = tmp_path / "ratings.txt"
    ratings.write_text("# rated blind\n\n" + "".join(
        f"{index}\t{marks[item['group']]}  # ok\n" for index, item in items.items()
    ), encoding="utf-8")  # fmt: skip
    key = str(folder / "key.json")
    assert rating_sheet.main(["score", "--ratings", str(ratings), "--key", key]) == 0
    sources = json.loads(capsys.readouterr().out)["sources"]
    assert sources == {
        "greedy": {"sensible": 1.0, "specific": 0.0, "ssa": 0.5, "count": 3},
        "warm": {"sensible": 0.0, "specific": 0.0, "ssa": 0.0, "count": 3},
        "human": {"sensible": 1.0, "specific": 1.0, "ssa": 1.0, "count": 2},
    }
    ratings.write_text("".join(f"{index} 1 1\n" for index in list(items)[1:]), encoding="utf-8")
    assert rating_sheet.main(["score", "--ratings", str(ratings), "--key", key]) == 2
    assert "1 of 8 replies are not rated: 1" in capsys.readouterr().err


def test_human_turns_from_the_test_split_are_the_real_next_turns_of_the_test_prompts(
    tmp_path: Path, tiny_model_dir: Path, small_corpus: Path
) -> None:
    common = ["--corpus", str(small_corpus), "--setting", GREEDY, "--human-from-test", "3"]
    folder = make(tmp_path, tiny_model_dir, "--test-prompts", "3", *common)
    items = json.loads((folder / "key.json").read_text(encoding="utf-8"))["items"].values()
    human = [item for item in items if item["group"] == "human-test"]
    model = [item for item in items if item["group"] == "greedy"]
    assert sorted(item["prompt"] for item in human) == sorted(item["prompt"] for item in model)
    drawn = rating_sheet.draw_test_pairs(str(small_corpus), 3)
    assert sorted((p, r) for p, r, _ in drawn) == sorted((i["prompt"], i["reply"]) for i in human)
    assert rating_sheet.draw_test_pairs(str(small_corpus), 5)[:3] == drawn  # a fixed order
    assert {i["provenance"]["conversation"] for i in human} <= {c for _, _, c in drawn}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('x={"strategy": "nonsense"}', "strategy"),
        ('x={"beams": 5}', "unknown decoding setting(s): beams"),
        ("x=preset:fast", "unknown preset 'fast'"),
        ("x={strategy: beam}", "not preset:NAME nor JSON"),
        ("human=preset:balanced", "kept for replies people wrote"),
        ("nothing", "NAME=preset:PRESET, NAME=JSON or one of model-only, beam-5, rerank-l1"),
    ],
)
def test_a_bad_setting_is_refused_before_anything_is_written(
    tmp_path: Path, setting: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("hello\n", encoding="utf-8")
    args = ["make", "--out", str(tmp_path / "out"), "--prompts", str(prompts)]
    assert rating_sheet.main([*args, "--model", str(tmp_path), "--setting", setting]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_settings_issue_23_compares_go_by_name(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = make(tmp_path, tiny_model_dir, "--prompts", str(tmp_path / "prompts.txt"),
                  "--setting", "mmi-beam-l3", "--setting", "rerank-l1")  # fmt: skip
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    beam = key["settings"]["mmi-beam-l3"]
    assert (beam["strategy"], beam["candidate_search"], beam["mmi_weight"]) == ("rerank", "beam", 3)
    assert key["settings"]["rerank-l1"]["candidates"] == 32  # the precise preset's, at λ 1
    by_group = {name: [i for i in key["items"].values() if i["group"] == name]
                for name in ("mmi-beam-l3", "rerank-l1")}  # fmt: skip
    assert [len(items) for items in by_group.values()] == [len(PROMPTS)] * 2
    assert all(item["provenance"]["seed"] is None for item in by_group["mmi-beam-l3"])  # beam
    everything = rating_sheet.parse_settings(["generated"])
    assert [name for name, _ in everything] == list(rating_sheet.GENERATED)
    with pytest.raises(SheetError, match="share a name"):
        rating_sheet.parse_settings(["generated", "model-only"])


def test_an_existing_sheet_is_never_overwritten(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make(tmp_path, tiny_model_dir)
    before = (folder / "key.json").read_bytes()
    args = ["make", "--out", str(folder), "--prompts", str(tmp_path / "prompts.txt")]
    assert rating_sheet.main([*args, "--setting", GREEDY]) == 2
    assert "exists" in capsys.readouterr().err
    assert (folder / "key.json").read_bytes() == before


rating = st.sampled_from([(0, 0), (1, 0), (1, 1)])
gap = st.sampled_from([" ", "\t", "  ", ", ", " ,\t"])
noise = st.sampled_from(["", "\n", "# a comment\n", "   \n", "\t# index sensible specific\n"])


@given(
    ratings=st.dictionaries(st.integers(1, 10_000), rating, max_size=30),
    gaps=st.lists(gap, min_size=60, max_size=60),
    extra=st.lists(noise, min_size=30, max_size=30),
    trailing=st.sampled_from(["", " # sure", "\t#?"]),
)
def test_ratings_come_back_whatever_the_spacing_and_comments(
    ratings: dict[int, tuple[int, int]], gaps: list[str], extra: list[str], trailing: str
) -> None:
    lines = [
        f"{noise}{index}{gaps[2 * n]}{sensible}{gaps[2 * n + 1]}{specific}{trailing}\n"
        for n, (noise, (index, (sensible, specific))) in enumerate(zip(extra, ratings.items()))
    ]
    assert parse_ratings("".join(lines)) == ratings


@given(
    index=st.integers(1, 10_000),
    before=st.dictionaries(st.integers(10_001, 20_000), rating, max_size=5),
)
def test_a_reply_specific_but_not_sensible_is_refused_with_its_line(
    index: int, before: dict[int, tuple[int, int]]
) -> None:
    text = "".join(f"{i} {a} {b}\n" for i, (a, b) in before.items()) + f"{index} 0 1\n"
    with pytest.raises(SheetError, match=f"line {len(before) + 1}: reply {index} is rated "
                       "specific but not sensible"):  # fmt: skip
        parse_ratings(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3 1 1\n3 1 0\n", "line 2: reply 3 is rated a second time"),
        ("3 1\n", "line 1: write 'index sensible specific'"),
        ("3 2 0\n", "line 1: sensible and specific are 0 or 1"),
        ("3 yes no\n", "line 1: write 'index sensible specific'"),
    ],
)
def test_a_bad_rating_line_is_named(text: str, message: str) -> None:
    with pytest.raises(SheetError, match=re.escape(message)):
        parse_ratings(text)


def test_sheets_of_two_models_merge_into_one_blind_batch_scored_per_setting(
    tmp_path: Path, tiny_model_dir: Path, tiny_refine_model_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    first = make(tmp_path, tiny_model_dir, out="first")
    prompts = str(tmp_path / "prompts.txt")
    second = make(tmp_path, tiny_refine_model_dir, "--prompts", prompts,
                  "--setting", 'refined={"strategy": "beam"}', out="second")  # fmt: skip
    out = tmp_path / "merged"
    assert rating_sheet.main(["merge", "--out", str(out), str(first), str(second)]) == 0
    key = json.loads((out / "key.json").read_text(encoding="utf-8"))
    items = key["items"]
    assert len((out / "sheet.tsv").read_text(encoding="utf-8").splitlines()) == len(items) == 11
    refined = [item for item in items.values() if item["group"] == "refined"]
    assert len(refined) == 3 and {item["model"] for item in refined} == {str(tiny_refine_model_dir)}
    assert key["model"]["greedy"] == str(tiny_model_dir)
    capsys.readouterr()
    ratings = tmp_path / "ratings.txt"
    ratings.write_text("".join(f"{index} 1 0\n" for index in items), encoding="utf-8")
    assert (
        rating_sheet.main(["score", "--ratings", str(ratings), "--key", str(out / "key.json")]) == 0
    )
    sources = json.loads(capsys.readouterr().out)["sources"]
    assert sources["refined"]["count"] == 3 and sources["human"]["count"] == 2  # rated once
    # One setting name in two sheets would be scored as one: refused.
    assert (
        rating_sheet.main(["merge", "--out", str(tmp_path / "twice"), str(first), str(first)]) == 2
    )
    assert "in two sheets" in capsys.readouterr().err
