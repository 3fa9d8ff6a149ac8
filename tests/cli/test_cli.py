"""The "new user" path through `main.py`: train, eval, chat, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each case starts a Python with torch: seconds apiece

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN = str(REPO_ROOT / "main.py")


def run_main(
    *args: str, stdin: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, MAIN, *args],
        cwd=REPO_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON: a command's summary must be strict JSON")


@pytest.fixture(scope="module")
def chatterbot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "model"
    done = run_main(
        "train", "--corpus", "chatterbot", "--preset", "tiny", "--out", str(out),
        "--max-minutes", "0.3", "--lr-cooldown", "0.3", "--device", "cpu",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The summary is the JSON object at the end of stdout (evaluation lines may come before).
    result = json.loads(done.stdout[done.stdout.index("{\n") :], parse_constant=_not_json)
    assert result["saved"] and result["steps"] > 0
    assert result["stopped_by"] in ("time_budget", "epochs", "early_stopping")
    return out


def test_train_then_eval(chatterbot_model: Path) -> None:
    assert sorted(p.name for p in chatterbot_model.iterdir()) == [
        "config.json", "model.safetensors", "optimizer.safetensors", "tokenizer.model",
    ]  # fmt: skip
    record = json.loads((chatterbot_model / "config.json").read_text())["training"]
    assert record["train_config"]["lr_cooldown"] == 0.3  # the card can say how it was trained
    done = run_main(
        "eval", "--model", str(chatterbot_model), "--corpus", "chatterbot", "--split", "valid"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["split"] == "valid"
    assert result["examples"] > 0 and result["tokens"] > result["examples"]
    assert 1.0 < result["perplexity"] < 500  # a tiny vocabulary, a little training


def test_chat_json_lines_until_eof(tiny_model_dir: Path) -> None:
    done = run_main(
        "chat", "--model", str(tiny_model_dir), "--json", "--device", "cpu",
        stdin="hello\nhow are you?\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    replies = [json.loads(line) for line in lines]
    for reply in replies:
        assert reply["reply"].strip() and not reply["cancelled"]
        assert reply["tokens"] > 0 and reply["alternatives"]
    # The default preset pools; without an index or a backward model it says once what it
    # does without.
    assert done.stderr.splitlines() == [
        "note: the pool has only the model's own replies: no replies.sqlite beside the model",
        "note: the pool scores without MMI: this model has no backward/ model",
    ]


def test_chat_greedy_is_what_it_learned(tiny_model_dir: Path) -> None:
    done = run_main(
        "chat", "--model", str(tiny_model_dir), "--json", "--strategy", "greedy",
        stdin="what is your name?\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reply"] == "my name is chatbot."


def test_eval_generation_metrics(tiny_model_dir: Path, small_corpus: Path) -> None:
    done = run_main(
        "eval", "--model", str(tiny_model_dir), "--corpus", str(small_corpus),
        "--split", "valid", "--generate", "3", "--seed", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["prompts"] == 3
    for key in ("distinct_1", "distinct_2", "generic_reply_rate"):
        assert 0.0 <= result[key] <= 1.0, key
    assert result["perplexity"] < 5  # the corpus it learned


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_unknown_corpus(tmp_path: Path) -> None:
    out = tmp_path / "never"
    done = run_main("train", "--corpus", "shakespeare", "--preset", "tiny", "--out", str(out))
    assert done.returncode == 2
    assert "shakespeare" in one_error_line(done)
    assert not out.exists()  # nothing half-written


def test_bad_lr_cooldown_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "never"
    done = run_main(
        "train", "--corpus", "chatterbot", "--preset", "tiny", "--out", str(out),
        "--lr-cooldown", "2",
    )  # fmt: skip
    assert done.returncode == 2
    assert "--lr-cooldown must be in [0, 1]" in one_error_line(done)
    assert not out.exists()


def test_missing_model_dir(tmp_path: Path) -> None:
    done = run_main("chat", "--model", str(tmp_path / "nowhere"), stdin="hello\n")
    assert done.returncode == 2
    assert "does not exist" in one_error_line(done)
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [
        ("--top-p", "3", "top_p"),
        ("--temperature", "0", "temperature"),
        ("--beam-size", "99", "beam_size"),
    ],
)
def test_out_of_range_knob(tiny_model_dir: Path, flag: str, value: str, field: str) -> None:
    done = run_main("chat", "--model", str(tiny_model_dir), flag, value, stdin="hello\n")
    assert done.returncode == 2
    line = one_error_line(done)
    assert field in line and "must be between" in line


def test_argparse_errors_exit_2() -> None:
    done = run_main("eval", "--corpus", "chatterbot", "--split", "everything")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
