"""Retrieve and refine through `main.py`: find exemplars, then eval a model that reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.exemplars import load_exemplars
from engine.retrieval import INDEX_FILE
from tests.cli.test_cli import one_error_line, run_main

pytestmark = pytest.mark.slow  # each case starts a Python with torch


@pytest.fixture(scope="module")
def exemplars_file(
    tiny_refine_model_dir: Path, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("exemplars") / "exemplars.jsonl"
    done = run_main(
        "exemplars", "--corpus", str(small_corpus),
        "--index", str(tiny_refine_model_dir / INDEX_FILE), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["examples"] == sum(
        len(lines) for lines in load_exemplars(out).values()
    )
    return out


def test_eval_reports_perplexity_with_and_without_exemplars_and_how_replies_use_them(
    tiny_refine_model_dir: Path, small_corpus: Path, exemplars_file: Path
) -> None:
    done = run_main(
        "eval", "--model", str(tiny_refine_model_dir), "--corpus", str(small_corpus),
        "--split", "valid", "--exemplars", str(exemplars_file),
        "--generate", "4", "--strategy", "beam", "--seed", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    with_them = result["with_exemplars"]
    assert with_them["examples_with_an_exemplar"] > 0
    assert with_them["perplexity"] > 0 and with_them["word_perplexity"] > 0
    assert with_them["perplexity"] != result["perplexity"]  # the exemplar changed the input
    use = result["exemplar"]
    assert use["replies_written_from_one"] == 4
    assert 0.0 <= use["verbatim_rate"] <= use["copy_4_words_rate"] <= 1.0


def test_eval_with_exemplars_refuses_a_model_that_reads_none(
    tiny_model_dir: Path, small_corpus: Path, exemplars_file: Path
) -> None:
    done = run_main(
        "eval", "--model", str(tiny_model_dir), "--corpus", str(small_corpus),
        "--exemplars", str(exemplars_file),
    )  # fmt: skip
    assert done.returncode != 0
    assert "reads no exemplar" in one_error_line(done)


def test_exemplars_needs_a_reply_index(small_corpus: Path, tmp_path: Path) -> None:
    done = run_main(
        "exemplars", "--corpus", str(small_corpus), "--index", str(tmp_path / "none.sqlite"),
        "--out", str(tmp_path / "x.jsonl"),
    )  # fmt: skip
    assert done.returncode != 0
    assert "no reply index" in one_error_line(done)
    assert not (tmp_path / "x.jsonl").exists()
