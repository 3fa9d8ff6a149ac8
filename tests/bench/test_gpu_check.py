"""bench/gpu_check.sh, the prepared GPU run, run on the CPU with the tiny preset and the fixture
corpus: every part in the summary (the CUDA-only ones skipped with the reason), a loadable model
and its training log in the results folder, and the run's record as a row of the model card's
training-runs table. Bad input is refused before anything runs."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from engine.checkpoint import OPTIMIZER_FILE, load_checkpoint
from tests.conftest import SMALL_CORPUS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_check.sh"
SHIPPED_TOKENIZER = ROOT / "resources" / "model" / "tokenizer.model"
CPU_RUN = ["--device", "cpu", "--preset", "tiny", "--corpus", str(SMALL_CORPUS)]
CUDA_ONLY = {
    "tests": "the engine tests on the GPU",
    "train_bench": "a bf16 training throughput figure",
    "nccl": "a 2-process NCCL run",
}


def load_bench(name: str) -> ModuleType:
    """A bench/ script as a module (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """One run of the script on the CPU (~30 s, most of it loading torch in three processes):
    3 seconds of training on the shipped model's tokenizer (the default)."""
    results = tmp_path_factory.mktemp("gpu-check") / "results"
    completed = run_script(*CPU_RUN, "--train-minutes", "0.05", "--note", "smoke", str(results))
    return completed, results


def summary_lines(results: Path) -> dict[str, list[str]]:
    """The summary's lines by the part they start with ("train: exit 0 ..." -> "train")."""
    lines: dict[str, list[str]] = {}
    for line in (results / "summary.txt").read_text(encoding="utf-8").splitlines():
        lines.setdefault(line.partition(":")[0], []).append(line)
    return lines


def log_events(results: Path) -> list[dict]:
    lines = (results / "train.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_on_the_cpu_every_part_runs_or_says_why_not_and_exits_0(
    cpu_run: tuple[subprocess.CompletedProcess, Path],
) -> None:
    completed, results = cpu_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    parts = summary_lines(results)
    for name in ("train", "model", "record"):
        assert any(f"{name}: exit 0 after" in line for line in parts[name]), parts
    # The CUDA-only checks are listed as skipped, each with its reason; nothing else is.
    for name, why in CUDA_ONLY.items():
        assert parts[name] == [f"{name}: skipped (needs CUDA: {why}; the device is cpu)"]
    assert parts["total"][0].endswith("failed: none")
    # At most 8 files, 2 folders down: what a lent machine's results folder brings back.
    files = sorted(
        path.relative_to(results).as_posix() for path in results.rglob("*") if path.is_file()
    )
    assert files == [
        "model/config.json", "model/model.safetensors", "model/tokenizer.model",
        "run.json", "summary.txt", "train.log",
    ]  # fmt: skip


def test_the_results_folder_holds_a_loadable_model_on_the_shipped_tokenizer_and_its_log(
    cpu_run: tuple[subprocess.CompletedProcess, Path],
) -> None:
    _, results = cpu_run
    checkpoint = load_checkpoint(results / "model")
    assert (checkpoint.config.hidden_size, checkpoint.config.num_layers) == (64, 1)  # tiny
    config = json.loads((results / "model" / "config.json").read_text(encoding="utf-8"))
    assert config["weights_dtype"] == "float16"  # as shipped: half the bytes, no optimizer
    assert not (results / "model" / OPTIMIZER_FILE).exists()
    assert config["training"]["commands"][0].startswith("bench/gpu_check.sh --device cpu")
    # --tokenizer-from resources/model by default: the shipped reply index fits the new model.
    assert (results / "model" / "tokenizer.model").read_bytes() == SHIPPED_TOKENIZER.read_bytes()
    events = log_events(results)
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    assert events[-1]["saved"] and events[-1]["stopped_by"] == "time_budget"
    assert events[-1]["train_seconds"] < 30  # --train-minutes 0.05, one evaluation after


def test_the_run_is_recorded_for_the_model_cards_training_runs_table(
    cpu_run: tuple[subprocess.CompletedProcess, Path],
) -> None:
    _, results = cpu_run
    record = json.loads((results / "run.json").read_text(encoding="utf-8"))
    end = log_events(results)[-1]
    assert record["device"] == "cpu" and record["torch"] == torch.__version__
    assert record["machine"] and record["processes"] == 1 and record["preset"] == "tiny"
    assert record["steps"] == end["steps"] > 0
    assert record["train_seconds"] == end["train_seconds"]
    assert record["valid_perplexity"] == end["best_valid_perplexity"]
    assert record["test"]["split"] == "test" and record["test"]["examples"] > 0
    assert math.isfinite(record["test"]["perplexity"]) and record["test"]["word_perplexity"] > 1
    assert set(record["decode_ms"]) >= {"greedy_ms", "beam_ms", "sample_ms", "rerank_ms"}
    assert record["tokenizer_from"] == "resources/model" and record["note"] == "smoke"
    row = load_bench("render_model_card").run_row(record)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == f"{record['machine']} (cpu, 1 process)"
    assert cells[5] == f"{end['steps']:,}" and cells[-1] == "smoke"
    assert cells[8] == f"{end['best_valid_perplexity']:.2f}"
    assert (results / "summary.txt").read_text(encoding="utf-8").count(row) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu", "RESULTS"], "--device is cuda or cpu"),
        (["--seconds", "ten", "RESULTS"], "--seconds is a whole number"),
        (["--bogus", "RESULTS"], "usage: bench/gpu_check.sh"),
        (["--preset"], "usage: bench/gpu_check.sh"),
        ([], "usage: bench/gpu_check.sh"),
    ],
)
def test_bad_options_get_one_message_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    completed = run_script(*(str(tmp_path / "out") if a == "RESULTS" else a for a in args))
    assert completed.returncode == 2
    assert message in completed.stderr and completed.stdout == ""
    assert not (tmp_path / "out").exists()


def test_a_results_folder_that_holds_files_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "summary.txt").write_text("an earlier run's\n", encoding="utf-8")
    completed = run_script(*CPU_RUN, str(tmp_path))
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        f"gpu_check.sh: {tmp_path} is not empty; give a new or empty results folder"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["summary.txt"]
    assert (tmp_path / "summary.txt").read_text(encoding="utf-8") == "an earlier run's\n"


def test_a_record_needs_a_finished_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log cut off before its end event (a killed run) gives one line, not a half record."""
    log = tmp_path / "train.log"
    log.write_text('{"event": "start", "total_steps": 9}\nTraceback ...\n', encoding="utf-8")
    (tmp_path / "eval.json").write_text('{"perplexity": 9.0}', encoding="utf-8")
    args = ["--log", str(log), "--model", str(tmp_path), "--eval", str(tmp_path / "eval.json")]
    args += ["--preset", "tiny", "--out", str(tmp_path / "run.json")]
    assert load_bench("run_record").main(args) == 2
    assert capsys.readouterr().err == (
        f"run_record.py: error: {log} has no end event: the training did not finish\n"
    )
    assert not (tmp_path / "run.json").exists()
