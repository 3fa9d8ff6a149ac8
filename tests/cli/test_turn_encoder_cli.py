"""`main.py turn-encoder`: distil the pool's turn encoder from all-MiniLM-L6-v2 (the `[eval]`
extra) over a reply index's turns, read it back, and chat with a model that has it; without
the extra, or with a bad number, one clear line and nothing written."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.retrieval import INDEX_FILE, ReplyIndex
from engine.turn_encoder import CONFIG_FILE, TURN_ENCODER_DIR, load_turn_encoder
from tests.cli.test_cli import one_error_line, run_main

pytestmark = pytest.mark.slow  # each case starts a Python with torch

EVAL_INSTALLED = importlib.util.find_spec("sentence_transformers") is not None
needs_eval = pytest.mark.skipif(not EVAL_INSTALLED, reason="needs the [eval] extra")
# What importing a package that is not installed raises, for a stand-in that hides one.
MISSING = (
    "raise ModuleNotFoundError(\"No module named 'sentence_transformers'\", "
    'name="sentence_transformers")\n'
)


def distil(model: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_main(
        "turn-encoder", "--index", str(model / INDEX_FILE),
        "--tokenizer", str(model / "tokenizer.model"), "--out", str(out), *extra,
    )  # fmt: skip


def chat(model: Path, *flags: str) -> dict:
    done = run_main(
        "chat", "--model", str(model), "--json", "--device", "cpu", "--preset", "balanced",
        *flags, stdin="how are you?\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    return json.loads(line)


@pytest.fixture(scope="module")
def distilled(
    tiny_pool_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess, Path]:
    """One run of the command on the tiny pool model's index (one epoch), and its folder."""
    if not EVAL_INSTALLED:
        pytest.skip("needs the [eval] extra")
    out = tmp_path_factory.mktemp("turn-encoder") / TURN_ENCODER_DIR
    return distil(tiny_pool_model_dir, out, "--epochs", "1"), out


@pytest.mark.parametrize("hidden", [False, True], ids=["missing", "hidden"])
def test_without_the_eval_extra_it_refuses_in_one_line_and_writes_nothing(
    tiny_pool_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hidden: bool
) -> None:
    if not hidden and EVAL_INSTALLED:
        pytest.skip("the [eval] extra is installed (the 'hidden' case stands in)")
    if hidden:  # installed or not, the child finds a sentence_transformers that is missing
        stand_in = tmp_path / "hide" / "sentence_transformers"
        stand_in.mkdir(parents=True)
        (stand_in / "__init__.py").write_text(MISSING, encoding="utf-8")
        paths = [str(stand_in.parent), os.environ.get("PYTHONPATH", "")]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path for path in paths if path))
    out = tmp_path / TURN_ENCODER_DIR
    done = distil(tiny_pool_model_dir, out)
    assert done.returncode != 0
    assert "pip install '.[eval]'" in one_error_line(done)
    assert done.stdout == "" and not out.exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--epochs", "0"),
        ("--max-minutes", "0"),
        ("--max-minutes", "-5"),
        ("--max-minutes", "nan"),  # `nan <= 0` is false: it slipped past and never stopped
        ("--max-minutes", "inf"),
        ("--limit", "-1"),
    ],
)
def test_a_bad_epochs_or_time_budget_is_refused_in_one_line(
    tiny_pool_model_dir: Path, tmp_path: Path, flag: str, value: str
) -> None:
    out = tmp_path / TURN_ENCODER_DIR
    done = distil(tiny_pool_model_dir, out, flag, value)
    assert done.returncode == 2
    assert flag in one_error_line(done)
    assert done.stdout == "" and not out.exists()


@needs_eval
def test_it_prints_one_json_line_and_writes_a_folder_that_reads_back(
    distilled: tuple[subprocess.CompletedProcess, Path], tiny_pool_model_dir: Path
) -> None:
    done, out = distilled
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    index = ReplyIndex.open(tiny_pool_model_dir / INDEX_FILE)
    try:
        turns = len(dict.fromkeys(row[0] for row in index.rows()))
    finally:
        index.close()
    assert result["turns"] == turns and result["epochs"] == 1
    assert result["index"] == INDEX_FILE and result["path"] == str(out)
    assert 0.0 <= result["neighbour_recall"] <= 1.0 and -1.0 <= result["held_out_cosine"] <= 1.0
    epochs = [json.loads(text) for text in done.stderr.splitlines() if text.startswith("{")]
    assert [event["event"] for event in epochs] == ["epoch"]
    saved = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))["training"]
    assert saved == {key: result[key] for key in saved}  # the folder keeps what it printed
    loaded = load_turn_encoder(out)
    vectors = loaded.encode(["how are you?", "i am fine, thanks"])
    assert tuple(vectors.shape) == (2, 384)  # all-MiniLM-L6-v2's size, unit vectors
    assert vectors.norm(dim=1).tolist() == pytest.approx([1.0, 1.0], abs=1e-4)


@needs_eval
def test_a_model_with_it_answers_with_replies_to_similar_turns(
    distilled: tuple[subprocess.CompletedProcess, Path],
    tiny_pool_model_dir: Path,
    tmp_path: Path,
) -> None:
    done, out = distilled
    assert done.returncode == 0, done.stderr
    model = tmp_path / "model"
    shutil.copytree(tiny_pool_model_dir, model)
    shutil.copytree(out, model / TURN_ENCODER_DIR)
    # No word search (retrieved 0): replies people wrote can only come from the encoder.
    reply = chat(model, "--similar", "4", "--retrieved", "0")
    assert reply["reply"].strip() and not reply["cancelled"]
    sources = [alternative["source"] for alternative in reply["alternatives"]]
    assert reply["source"] == "corpus" and sources.count("corpus") >= 1
    without = chat(tiny_pool_model_dir, "--similar", "4", "--retrieved", "0")
    assert {alternative["source"] for alternative in without["alternatives"]} == {"model"}
